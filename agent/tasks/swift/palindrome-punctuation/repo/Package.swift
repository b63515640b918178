// swift-tools-version:5.7
import PackageDescription

let package = Package(
    name: "Palindromes",
    targets: [
        .target(name: "Palindromes"),
        .testTarget(name: "PalindromesTests", dependencies: ["Palindromes"]),
    ]
)
