// swift-tools-version:5.7
import PackageDescription

let package = Package(
    name: "Stacks",
    targets: [
        .target(name: "Stacks"),
        .testTarget(name: "StacksTests", dependencies: ["Stacks"]),
    ]
)
