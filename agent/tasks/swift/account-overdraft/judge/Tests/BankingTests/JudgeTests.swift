import XCTest
import Banking

final class JudgeTests: XCTestCase {
    func testAnOverdraftThrowsAndKeepsTheBalance() {
        let account = Account(balance: 500)
        XCTAssertThrowsError(try account.withdraw(800)) { error in
            XCTAssertEqual(error as? AccountError, AccountError.insufficientFunds(balance: 500, requested: 800))
        }
        XCTAssertEqual(account.balance, 500)
    }

    func testTheWholeBalanceCanBeWithdrawn() throws {
        let account = Account(balance: 500)
        try account.withdraw(500)
        XCTAssertEqual(account.balance, 0)
        XCTAssertThrowsError(try account.withdraw(1))
        XCTAssertEqual(account.balance, 0)
    }
}
