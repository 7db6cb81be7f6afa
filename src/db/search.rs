//! Case-insensitive substring search, the same on both databases: `lower(col) LIKE '%text%'`
//! with the user's `%`, `_` and `\` taken literally. On PostgreSQL, contacts search an
//! expression that a trigram index covers (see the networking migration).

use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ColumnTrait, Condition};

/// `%text%`, lowercased, with LIKE's wildcards escaped so a search for `50%` means the characters.
pub fn like_pattern(search: &str) -> String {
    let escaped = search
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Any of `cols` contains `search` (case-insensitive).
pub fn any_contains<C: ColumnTrait>(cols: &[C], search: &str) -> Condition {
    let pattern = like_pattern(search);
    cols.iter().fold(Condition::any(), |cond, col| {
        cond.add(
            Expr::expr(Func::lower(Expr::col(*col)))
                .like(LikeExpr::new(pattern.clone()).escape('\\')),
        )
    })
}

/// A lowercased SQL expression (an indexed one) contains `search`.
pub fn expr_contains(lowered_expr: &'static str, search: &str) -> Condition {
    Condition::all()
        .add(Expr::cust(lowered_expr).like(LikeExpr::new(like_pattern(search)).escape('\\')))
}

/// Equal ignoring case (an exact company or industry name).
pub fn equals_ignoring_case<C: ColumnTrait>(col: C, value: &str) -> Condition {
    Condition::all().add(Expr::expr(Func::lower(Expr::col(col))).eq(value.trim().to_lowercase()))
}

/// A JSON array column (`tags`) holds `value` as one of its strings: `@>` on PostgreSQL (a GIN
/// index can serve it), `json_each` on SQLite.
pub fn json_array_contains(
    backend: sea_orm::DbBackend,
    column: &'static str,
    value: &str,
) -> Condition {
    let expr = match backend {
        sea_orm::DbBackend::Postgres => Expr::cust_with_values(
            format!("{column} @> CAST($1 AS jsonb)"),
            [serde_json::json!([value]).to_string()],
        ),
        _ => Expr::cust_with_values(
            format!("EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = ?)"),
            [value.to_owned()],
        ),
    };
    Condition::all().add(expr)
}
