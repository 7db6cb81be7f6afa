use plugs::entities::expenses;
use plugs::graphql::types::{Event, Expense};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use std::str::FromStr;

use crate::fixtures::*;
use crate::helpers::TestDb;

#[tokio::test]
async fn amounts_round_trip_exactly_with_two_decimals() {
    let test_db = TestDb::shared().await;
    let db = test_db.connect().await;
    let t = tenant(&db).await;
    for (stored, shown) in [
        ("0.10", "0.10"),
        ("0.1", "0.10"),
        ("1250", "1250.00"),
        ("1250.00", "1250.00"),
        ("9999999999.99", "9999999999.99"),
        ("0.01", "0.01"),
        ("0", "0.00"),
        ("1234567.89", "1234567.89"),
    ] {
        let amount = plugs::domain::money::normalize(Decimal::from_str(stored).unwrap());
        let row = expense_model(&t, None, amount).insert(&db).await.unwrap();
        let read = expenses::Entity::find_by_id(row.id)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let api = Expense::from(read);
        assert_eq!(api.amount.to_string(), shown, "stored {stored}");
        assert_eq!(api.amount, Decimal::from_str(shown).unwrap());
    }

    // Event budgets default to 0 and come out as "0.00".
    let event = event_model(&t).insert(&db).await.unwrap();
    assert_eq!(Event::from(event.clone()).budget.to_string(), "0.00");
    let mut m: plugs::entities::events::ActiveModel = event.into();
    m.budget = Set(Decimal::from_str("9999999999.99").unwrap());
    let updated = m.update(&db).await.unwrap();
    assert_eq!(Event::from(updated).budget.to_string(), "9999999999.99");
}

#[test]
fn normalizing_rounds_half_away_from_zero() {
    use plugs::domain::money::normalize;
    assert_eq!(
        normalize(Decimal::from_str("0.105").unwrap()).to_string(),
        "0.11"
    );
    assert_eq!(
        normalize(Decimal::from_str("2.004").unwrap()).to_string(),
        "2.00"
    );
    assert_eq!(
        normalize(Decimal::from_str("7").unwrap()).to_string(),
        "7.00"
    );
}
