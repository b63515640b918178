// swift-tools-version:5.7
import PackageDescription

let package = Package(
    name: "Caching",
    targets: [
        .target(name: "Caching"),
        .testTarget(name: "CachingTests", dependencies: ["Caching"]),
    ]
)
