//! Money is NUMERIC(12,2). PostgreSQL keeps the scale; SQLite stores REAL, so every amount
//! is normalised to exactly two decimals on the way in and out.

use rust_decimal::{Decimal, RoundingStrategy};

/// The largest amount NUMERIC(12,2) holds.
pub fn max_amount() -> Decimal {
    Decimal::new(999_999_999_999, 2)
}

/// Rounds half away from zero to 2 decimals and always carries scale 2 (`1250` -> `1250.00`).
pub fn normalize(amount: Decimal) -> Decimal {
    let mut d = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    d.rescale(2);
    d
}
