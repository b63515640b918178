// swift-tools-version:5.7
import PackageDescription

let package = Package(
    name: "ConfigFile",
    targets: [
        .target(name: "ConfigFile"),
        .testTarget(name: "ConfigFileTests", dependencies: ["ConfigFile"]),
    ]
)
