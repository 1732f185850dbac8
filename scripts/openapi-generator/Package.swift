// swift-tools-version: 6.1
// The OpenAPI generator CLI at a pinned version, built by scripts/openapi-generate in its own
// scratch path (.build-openapi): jpkid's routes and types are generated from docs/openapi.yaml
// once and committed (Sources/JPKIDaemon/Generated), so the package build never runs the plugin.
import PackageDescription

let package = Package(
    name: "openapi-generator-cli",
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator", exact: "1.14.3")
    ],
    targets: []
)
