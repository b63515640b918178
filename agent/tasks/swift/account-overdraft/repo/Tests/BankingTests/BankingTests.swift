import XCTest
import Banking

final class BankingTests: XCTestCase {
    func testDepositAndWithdraw() throws {
        let account = Account(balance: 1000)
        try account.deposit(250)
        try account.withdraw(400)
        XCTAssertEqual(account.balance, 850)
    }

    func testAmountsMustBePositive() {
        let account = Account()
        XCTAssertThrowsError(try account.deposit(0))
        XCTAssertThrowsError(try account.withdraw(-5))
    }
}
