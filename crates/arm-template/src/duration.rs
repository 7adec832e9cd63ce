//! ISO 8601 durations (`PT1M`, `P1D`, `PT0.5S`) through the `iso8601` crate.

/// A duration as a fixed length. Years and months count as 365 and 30 days (ARM's `dateTimeAdd` and APIM's
/// breaker intervals use days, hours, minutes and seconds in practice).
pub fn parse(text: &str) -> Result<chrono::Duration, String> {
    let d = iso8601::duration(text.trim()).map_err(|_| {
        format!("'{text}' is not an ISO 8601 duration (examples: PT30S, PT1M, PT1H, P1D)")
    })?;
    Ok(match d {
        iso8601::Duration::Weeks(w) => chrono::Duration::weeks(w as i64),
        iso8601::Duration::YMDHMS {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millisecond,
        } => {
            chrono::Duration::days(year as i64 * 365 + month as i64 * 30 + day as i64)
                + chrono::Duration::hours(hour as i64)
                + chrono::Duration::minutes(minute as i64)
                + chrono::Duration::seconds(second as i64)
                + chrono::Duration::milliseconds(millisecond as i64)
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_durations_templates_use() {
        assert_eq!(super::parse("PT1M").map(|d| d.num_seconds()), Ok(60));
        assert_eq!(super::parse("PT10S").map(|d| d.num_seconds()), Ok(10));
        assert_eq!(super::parse("P1D").map(|d| d.num_hours()), Ok(24));
        assert_eq!(super::parse("PT1H30M").map(|d| d.num_minutes()), Ok(90));
        assert!(super::parse("1 minute").is_err());
        assert!(super::parse("").is_err());
    }
}
