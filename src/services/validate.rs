//! Input rules shared by the services. Every failure names the GraphQL field.

use sea_orm::ActiveValue;

use super::Change;
use crate::error::AppError;

/// How an optional text column is checked.
#[derive(Clone, Copy, Debug)]
pub enum Text {
    /// Trimmed, at most this many characters; empty clears.
    Plain(usize),
    /// An http(s) URL of at most this many characters; empty clears.
    Url(usize),
    /// An e-mail address, lowercased; empty clears.
    Email,
}

/// Applies an optional text field of an update to its column: omitted keeps it, `null` or an
/// empty text clears it, a value is checked by `rule` (the error names `field`).
pub fn set_text(
    column: &mut ActiveValue<Option<String>>,
    field: &str,
    change: Change<String>,
    rule: Text,
) -> Result<(), AppError> {
    let value = match change {
        Change::Keep => return Ok(()),
        Change::Clear => None,
        Change::Set(v) => match rule {
            Text::Plain(max) => optional(field, Some(&v), max)?,
            Text::Url(max) => url(field, Some(&v), max)?,
            Text::Email if v.trim().is_empty() => None,
            Text::Email => Some(email(field, &v)?),
        },
    };
    *column = ActiveValue::Set(value);
    Ok(())
}

/// A JSON object (settings, metadata): anything else names the field.
pub fn object(field: &str, v: serde_json::Value) -> Result<serde_json::Value, AppError> {
    if v.is_object() {
        Ok(v)
    } else {
        Err(AppError::bad_input(field, "must be a JSON object"))
    }
}

/// Trimmed, non-empty, at most `max` characters.
pub fn required(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    max_len(field, v, max)?;
    Ok(v.to_owned())
}

/// Trimmed; empty becomes `None`.
pub fn optional(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => {
            max_len(field, v, max)?;
            Ok(Some(v.to_owned()))
        }
    }
}

/// A search text worth searching for: `None` when absent or blank, at most 100 characters.
pub fn search(value: Option<&str>) -> Result<Option<&str>, AppError> {
    match value.filter(|s| !s.trim().is_empty()) {
        Some(s) => {
            max_len("search", s, 100)?;
            Ok(Some(s))
        }
        None => Ok(None),
    }
}

pub fn max_len(field: &str, value: &str, max: usize) -> Result<(), AppError> {
    if value.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// A plausible address, lowercased: one `@`, a dotted domain, no spaces, at most 255 characters.
pub fn email(field: &str, value: &str) -> Result<String, AppError> {
    let v = value.trim().to_lowercase();
    max_len(field, &v, 255)?;
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !ok {
        return Err(AppError::bad_input(field, "is not a valid email address"));
    }
    Ok(v)
}

/// An absolute http(s) URL.
pub fn url(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, AppError> {
    let Some(v) = optional(field, value, max)? else {
        return Ok(None);
    };
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !v.chars().any(char::is_whitespace) => Ok(Some(v)),
        _ => Err(AppError::bad_input(
            field,
            "must be an http:// or https:// URL",
        )),
    }
}

/// A DNS name like `acme.com`, lowercased.
pub fn domain(field: &str, value: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(v) = optional(field, value, 255)? else {
        return Ok(None);
    };
    let v = v.to_lowercase();
    let labels_ok = v.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !labels_ok || !v.contains('.') {
        return Err(AppError::bad_input(
            field,
            "is not a valid domain name like example.com",
        ));
    }
    Ok(Some(v))
}

/// An ISO 4217 code shape: three letters, uppercased (`eur` -> `EUR`).
pub fn currency(field: &str, value: &str) -> Result<String, AppError> {
    let c = value.trim().to_uppercase();
    if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
        return Err(AppError::bad_input(
            field,
            "must be a three-letter ISO 4217 code like USD",
        ));
    }
    Ok(c)
}

/// An amount of money as the client wrote it: 0 to 9999999999.99 with at most two decimals
/// (never rounded: `10.005` is refused, not taken for `10.01`). Carries scale 2.
pub fn amount(
    field: &str,
    value: rust_decimal::Decimal,
) -> Result<rust_decimal::Decimal, AppError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(AppError::bad_input(field, "must not be negative"));
    }
    if value.normalize().scale() > 2 {
        return Err(AppError::bad_input(field, "must have at most 2 decimals"));
    }
    if value > crate::domain::money::max_amount() {
        return Err(AppError::bad_input(field, "must be at most 9999999999.99"));
    }
    Ok(crate::domain::money::normalize(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_domains_and_urls() {
        assert_eq!(
            email("email", " Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.com",
            "a b@x.com",
            "a@x",
            "a@@x.com",
            "a@.x.com",
        ] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
        assert_eq!(
            domain("d", Some("Acme.COM")).unwrap().as_deref(),
            Some("acme.com")
        );
        assert!(domain("d", Some("acme")).is_err());
        assert!(domain("d", Some("-acme.com")).is_err());
        assert!(url("u", Some("javascript:alert(1)"), 500).is_err());
        assert!(url("u", Some("https://x.io/p"), 500).unwrap().is_some());
        assert_eq!(url("u", Some("  "), 500).unwrap(), None);
    }

    #[test]
    fn currencies_and_amounts() {
        assert_eq!(currency("c", " eur ").unwrap(), "EUR");
        for bad in ["", "EU", "EURO", "E1R", "€UR"] {
            assert!(currency("c", bad).is_err(), "{bad}");
        }
        let d = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
        assert_eq!(amount("a", d("12.5")).unwrap().to_string(), "12.50");
        assert_eq!(amount("a", d("-0")).unwrap().to_string(), "0.00");
        assert_eq!(amount("a", d("1.100")).unwrap().to_string(), "1.10");
        assert_eq!(
            amount("a", d("9999999999.99")).unwrap().to_string(),
            "9999999999.99"
        );
        for bad in ["-0.01", "10.005", "10000000000.00"] {
            assert!(amount("a", d(bad)).is_err(), "{bad}");
        }
    }
}
