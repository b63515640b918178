// swift-tools-version:5.7
import PackageDescription

let package = Package(
    name: "Versions",
    targets: [
        .target(name: "Versions"),
        .testTarget(name: "VersionsTests", dependencies: ["Versions"]),
    ]
)
