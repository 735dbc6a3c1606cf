import Testing
@testable import VigilCollector
