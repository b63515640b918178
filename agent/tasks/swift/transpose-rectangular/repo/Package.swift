// swift-tools-version:5.7
import PackageDescription

let package = Package(
    name: "Grid",
    targets: [
        .target(name: "Grid"),
        .testTarget(name: "GridTests", dependencies: ["Grid"]),
    ]
)
