// swift-tools-version:5.7
import PackageDescription

let package = Package(
    name: "Rotation",
    targets: [
        .target(name: "Rotation"),
        .testTarget(name: "RotationTests", dependencies: ["Rotation"]),
    ]
)
