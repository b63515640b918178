// swift-tools-version:5.7
import PackageDescription

let package = Package(
    name: "Banking",
    targets: [
        .target(name: "Banking"),
        .testTarget(name: "BankingTests", dependencies: ["Banking"]),
    ]
)
