// swift-tools-version:5.7
import PackageDescription

let package = Package(
    name: "Timecode",
    targets: [
        .target(name: "Timecode"),
        .testTarget(name: "TimecodeTests", dependencies: ["Timecode"]),
    ]
)
