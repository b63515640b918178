public enum AccountError: Error, Equatable {
    case invalidAmount(Int)
    case insufficientFunds(balance: Int, requested: Int)
}

/// A bank account; amounts are in cents.
public final class Account {
    public private(set) var balance: Int

    public init(balance: Int = 0) {
        self.balance = balance
    }

    /// Adds amount (more than zero) to the balance.
    public func deposit(_ amount: Int) throws {
        guard amount > 0 else { throw AccountError.invalidAmount(amount) }
        balance += amount
    }

    /// Takes amount (more than zero) out of the account. The account cannot be overdrawn: when it holds less than
    /// amount, this throws insufficientFunds and the balance stays as it was.
    public func withdraw(_ amount: Int) throws {
        guard amount > 0 else { throw AccountError.invalidAmount(amount) }
        guard amount <= balance else {
            throw AccountError.insufficientFunds(balance: balance, requested: amount)
        }
        balance -= amount
    }
}
