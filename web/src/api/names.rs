//! Names that reach the API from a path or body are checked before anything is stored: a
//! rule's topic is a Kafka topic name, rule ids, plugin names and client ids have a length
//! limit, and a refusal is a 400 naming the part at fault.

use crate::error::ApiError;

/// Kafka's limit on a topic name's length.
const TOPIC_MAX: usize = 249;
/// Longest rule id, plugin name or quota client id accepted.
pub(crate) const NAME_MAX: usize = 255;

/// A Kafka topic name: 1 to 249 of `a-z A-Z 0-9 . _ -`, and not `.` or `..`.
pub(crate) fn topic(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= TOPIC_MAX
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        return Ok(());
    }
    let shown: String = name.chars().take(64).collect();
    Err(ApiError::bad_request(
        Some("topic".into()),
        format!(
            "{shown:?}{} is not a Kafka topic name: 1 to {TOPIC_MAX} of a-z, A-Z, 0-9, '.', '_', '-', and not '.' or '..'",
            if name.chars().count() > 64 { "…" } else { "" }
        ),
    ))
}

/// A plugin name: 1 to 255 of `a-z A-Z 0-9 . _ -`.
pub(crate) fn plugin(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            Some("name".into()),
            format!("a plugin name is 1 to {NAME_MAX} of a-z, A-Z, 0-9, '.', '_', '-'"),
        ))
    }
}

/// Any other name (`field` says which): 1 to 255 bytes.
pub(crate) fn bounded(field: &str, name: &str) -> Result<(), ApiError> {
    if !name.is_empty() && name.len() <= NAME_MAX {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            Some(field.into()),
            format!("{field} must be 1 to {NAME_MAX} bytes (got {})", name.len()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka() {
        for good in ["orders", "a.b_c-d", &"x".repeat(249)] {
            assert!(topic(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../../etc", "a b", "ü", &"x".repeat(250)] {
            let e = topic(bad).expect_err(bad);
            assert_eq!(e.status, 400);
            assert_eq!(e.field.as_deref(), Some("topic"));
        }
    }
}
