import Hummingbird

/// The collector build version reported in /healthz and logs.
public enum CollectorVersion { public static let string = "0.3.0" }
