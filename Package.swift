// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "jpki-linux",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "SmartCard", targets: ["SmartCard"]),
        .library(name: "SmartCardPCSC", targets: ["SmartCardPCSC"]),
        .library(name: "JPKI", targets: ["JPKI"]),
        .library(name: "JPKIVerify", targets: ["JPKIVerify"]),
        .library(name: "CardSimulator", targets: ["CardSimulator"]),
        .library(name: "Eligibility", targets: ["Eligibility"]),
        .executable(name: "jpkid", targets: ["jpkid"]),
        .executable(name: "card-inspect", targets: ["card-inspect"]),
        .executable(name: "jpki-sim", targets: ["jpki-sim"]),
        .executable(name: "jpki-reception", targets: ["jpki-reception"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // jpkid's routes and types are generated from docs/openapi.yaml (scripts/openapi-generate).
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CPCSCLite", pkgConfig: "libpcsclite",
            providers: [.apt(["libpcsclite-dev"])]),
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "COpenJPEG", pkgConfig: "libopenjp2",
            providers: [.apt(["libopenjp2-7-dev"])]),
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        // The backend-neutral core: APDU codec, CardChannel, transports, the reader seam, errors.
        // The one error-code protocol (`CodedError`) every module's errors conform to.
        .target(name: "StableCodes"),
        .target(name: "SmartCard", dependencies: ["StableCodes"]),
        // The PC/SC backend (pcsc-lite): the only target that links CPCSCLite.
        .target(name: "SmartCardPCSC", dependencies: ["SmartCard", "CPCSCLite"]),
        // The hash-chained, signed, durable audit log (writer, verifier, report) of jpkid.
        .target(name: "AuditTrail", dependencies: ["StableCodes", "COpenSSL"]),
        .target(name: "JPKI", dependencies: ["SmartCard", "COpenSSL"]),
        .target(name: "JPKIVerify", dependencies: ["COpenSSL", "SmartCard", "JPKI"]),
        // Network I/O on async-http-client: the `HTTPRequester` for OCSP and the eligibility
        // gateway, and the HTTP-over-Unix-socket client of jpkid (SmartCard/JPKI never link it).
        .target(
            name: "HTTPTransport",
            dependencies: [
                "JPKIVerify",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .target(
            name: "CardSimulator", dependencies: ["SmartCard", "JPKI", "COpenSSL"],
            exclude: ["FAULTS.md", "TIMING.md"]),
        .target(
            name: "Eligibility",
            dependencies: [
                "SmartCard", "JPKI", "JPKIVerify", "HTTPTransport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "JPKIDaemon",
            dependencies: [
                "SmartCardPCSC",
                "SmartCard", "JPKI", "JPKIVerify", "Eligibility", "AuditTrail", "HTTPTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            exclude: ["Generated/openapi.sha256"]),
        .executableTarget(
            name: "jpkid",
            dependencies: [
                "JPKIDaemon", "RegistryCommands",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The one PIN prompt (no echo, restored on signals) and the one text table of the tools.
        .target(name: "TerminalIO", dependencies: ["JPKI"]),
        // `jpkid registry …` and `jpkid audit …` (jpkid's main only parses and wires).
        .target(
            name: "RegistryCommands",
            dependencies: [
                "SmartCardPCSC", "TerminalIO",
                "JPKIDaemon", "Eligibility", "JPKI", "JPKIVerify", "SmartCard", "AuditTrail",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // card-inspect's commands, rendering and PIN input (the executable only calls it).
        .target(
            name: "Inspect",
            dependencies: [
                "SmartCardPCSC", "TerminalIO",
                "SmartCard", "JPKI", "JPKIVerify", "HTTPTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "card-inspect", dependencies: ["Inspect"]),
        .executableTarget(
            name: "jpki-sim",
            dependencies: [
                "CardSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The reception counter page: a loopback web server, client of jpkid's Unix socket.
        .target(
            name: "Reception",
            dependencies: [
                "COpenJPEG", "CPNG", "Eligibility", "JPKIVerify", "HTTPTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Assets")]),
        .executableTarget(
            name: "jpki-reception",
            dependencies: [
                "Reception",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // bench/run's measuring helper (not a product; see README "Benchmarks").
        .executableTarget(
            name: "jpki-bench",
            dependencies: [
                "SmartCardPCSC",
                "SmartCard", "JPKI", "JPKIVerify", "CardSimulator", "AuditTrail", "HTTPTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Test support: the pcscd + vpcd bench lock and helpers (not a product).
        .target(name: "TestBench", dependencies: ["HTTPTransport"]),
        // Test support: a stand-in for the qualification-check terminal's folder (not a product).
        .target(name: "OQSFakeTerminal", dependencies: ["Eligibility"]),
        .testTarget(name: "SmartCardTests", dependencies: ["SmartCardPCSC", "SmartCard"]),
        .testTarget(name: "AuditTrailTests", dependencies: ["AuditTrail", "TestBench"]),
        .testTarget(
            name: "JPKIDaemonTests",
            dependencies: [
                "SmartCardPCSC",
                "JPKIDaemon", "JPKI", "JPKIVerify", "SmartCard", "CardSimulator", "TestBench", "Eligibility",
                "OQSFakeTerminal", "Reception",
                "AuditTrail", "RegistryCommands",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]),
        .testTarget(
            name: "PCSCIntegrationTests",
            dependencies: ["SmartCardPCSC", "SmartCard", "CardSimulator", "TestBench"]),
        .testTarget(
            name: "CardSimulatorTests",
            dependencies: ["CardSimulator", "SmartCard", "JPKI", "TestBench", "COpenSSL"]),
        .testTarget(
            name: "JPKITests", dependencies: ["SmartCardPCSC", "JPKI", "SmartCard", "CardSimulator", "TestBench"]),
        .testTarget(
            name: "EligibilityTests",
            dependencies: [
                "SmartCardPCSC",
                "Eligibility", "JPKIDaemon", "JPKIVerify", "JPKI", "SmartCard", "CardSimulator", "TestBench",
                "OQSFakeTerminal", "RegistryCommands",
            ]),
        .testTarget(
            name: "FaultSoakTests",
            dependencies: [
                "SmartCardPCSC",
                "JPKIDaemon", "JPKI", "JPKIVerify", "SmartCard", "CardSimulator", "TestBench",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "JPKIVerifyTests",
            dependencies: ["JPKIVerify", "JPKI", "SmartCard", "CardSimulator", "TestBench", "HTTPTransport"]),
        .testTarget(
            name: "ReceptionTests",
            dependencies: [
                "Reception", "Eligibility",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .testTarget(
            name: "CardInspectTests",
            dependencies: [
                "SmartCardPCSC", "Inspect", "card-inspect", "CardSimulator", "SmartCard", "TestBench", "TerminalIO",
            ]),
    ],
    swiftLanguageModes: [.v6]
)
