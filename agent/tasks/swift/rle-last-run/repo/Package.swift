// swift-tools-version:5.7
import PackageDescription

let package = Package(
    name: "RunLength",
    targets: [
        .target(name: "RunLength"),
        .testTarget(name: "RunLengthTests", dependencies: ["RunLength"]),
    ]
)
