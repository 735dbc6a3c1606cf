import Foundation

/// The OpenAPI 3.1 document (`Resources/openapi.yaml`), served at `/openapi.yaml`.
enum OpenAPIDocument {
    static let yaml: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let text = try? String(contentsOf: url, encoding: .utf8)
        else { return "# openapi.yaml is missing from this build's resources\n" }
        return text
    }()
}
