//! .NET formatting with the invariant culture: `double.ToString()`, numeric format strings (`N2`, `F0`, `D3`,
//! `X`, `0.00`), and DateTime / TimeSpan format strings (`o`, `s`, `u`, `yyyy-MM-dd HH:mm:ss`).

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// Ticks between 0001-01-01 and 1970-01-01.
pub const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;
pub const TICKS_PER_SECOND: i64 = 10_000_000;
pub const TICKS_PER_DAY: i64 = 864_000_000_000;
pub const MAX_TICKS: i64 = 3_155_378_975_999_999_999;

/// `double.ToString()` as .NET Core 3.0+ prints it: the shortest round-trippable digits, in exponent form
/// (`1E+15`, `1E-05`) when the decimal exponent is at least 15 or below -5.
pub fn double_to_string(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "∞".into() } else { "-∞".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:e}", f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..15).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}E{esign}{:02}", exp.abs());
    }
    let point = exp + 1;
    let s = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{s}")
}

fn group_thousands(int_part: &str) -> String {
    let bytes: Vec<char> = int_part.chars().collect();
    let mut out = String::new();
    for (i, c) in bytes.iter().enumerate() {
        if i > 0 && (bytes.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    out
}

/// Rounds half away from zero to `decimals` places, as .NET's numeric formatting does.
fn fixed(value: f64, decimals: usize) -> String {
    let factor = 10f64.powi(decimals as i32);
    let scaled = (value.abs() * factor).round();
    let rounded = scaled / factor * value.signum();
    let s = format!("{:.*}", decimals, rounded.abs());
    if rounded < 0.0 || (value < 0.0 && scaled != 0.0) {
        format!("-{s}")
    } else {
        s
    }
}

/// A number for formatting: integers keep their exact digits.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// `ToString(format)` for numbers. `None` when the format is not understood.
pub fn format_number(n: Num, format: &str) -> Option<String> {
    if format.is_empty() {
        return Some(match n {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => double_to_string(f),
        });
    }
    let mut chars = format.chars();
    let spec = chars.next()?;
    let rest: String = chars.collect();
    let precision: Option<usize> = if rest.is_empty() {
        None
    } else if rest.chars().all(|c| c.is_ascii_digit()) {
        rest.parse().ok()
    } else {
        return format_custom(n, format);
    };
    Some(match spec.to_ascii_uppercase() {
        'D' => match n {
            Num::Int(i) => {
                let digits = i.unsigned_abs().to_string();
                let width = precision.unwrap_or(0);
                let padded = format!(
                    "{}{}",
                    "0".repeat(width.saturating_sub(digits.len())),
                    digits
                );
                if i < 0 { format!("-{padded}") } else { padded }
            }
            Num::Float(_) => return None,
        },
        'F' => fixed(n.as_f64(), precision.unwrap_or(2)),
        'N' => {
            let s = fixed(n.as_f64(), precision.unwrap_or(2));
            let (sign, s) = if let Some(s) = s.strip_prefix('-') {
                ("-", s)
            } else {
                ("", s.as_str())
            };
            let (int_part, frac) = s
                .split_once('.')
                .map(|(a, b)| (a, Some(b)))
                .unwrap_or((s, None));
            match frac {
                Some(f) => format!("{sign}{}.{f}", group_thousands(int_part)),
                None => format!("{sign}{}", group_thousands(int_part)),
            }
        }
        'P' => {
            let s = format_number(
                Num::Float(n.as_f64() * 100.0),
                &format!("N{}", precision.unwrap_or(2)),
            )?;
            format!("{s} %")
        }
        'X' => match n {
            Num::Int(i) => {
                let s = if i < 0 {
                    format!("{:x}", i as i32 as u32)
                } else {
                    format!("{i:x}")
                };
                let s = if spec == 'X' { s.to_uppercase() } else { s };
                format!(
                    "{}{}",
                    "0".repeat(precision.unwrap_or(0).saturating_sub(s.len())),
                    s
                )
            }
            Num::Float(_) => return None,
        },
        'G' | 'R' => match n {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => double_to_string(f),
        },
        'E' => {
            let p = precision.unwrap_or(6);
            let s = format!("{:.*e}", p, n.as_f64());
            let (m, e) = s.split_once('e')?;
            let e: i32 = e.parse().ok()?;
            format!(
                "{m}{}{}{:03}",
                if spec == 'e' { 'e' } else { 'E' },
                if e < 0 { '-' } else { '+' },
                e.abs()
            )
        }
        _ => return format_custom(n, format),
    })
}

/// Custom numeric formats made of `0`, `#`, `.` and `,` (grouping), with literal text around them.
fn format_custom(n: Num, format: &str) -> Option<String> {
    let start = format.find(['0', '#'])?;
    let end = format.rfind(['0', '#'])? + 1;
    let (prefix, pattern, suffix) = (&format[..start], &format[start..end], &format[end..]);
    if !pattern.chars().all(|c| matches!(c, '0' | '#' | '.' | ',')) {
        return None;
    }
    let (int_pat, frac_pat) = pattern.split_once('.').unwrap_or((pattern, ""));
    let grouping = int_pat.contains(',');
    let min_int = int_pat.chars().filter(|c| *c == '0').count();
    let min_frac = frac_pat.chars().filter(|c| *c == '0').count();
    let max_frac = frac_pat.chars().filter(|c| matches!(c, '0' | '#')).count();
    let s = fixed(n.as_f64(), max_frac);
    let (sign, s) = if let Some(s) = s.strip_prefix('-') {
        ("-", s.to_string())
    } else {
        ("", s)
    };
    let (int_part, frac_part) = s
        .split_once('.')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or((s.clone(), String::new()));
    let mut frac_part = frac_part;
    while frac_part.len() > min_frac && frac_part.ends_with('0') {
        frac_part.pop();
    }
    let int_part = int_part.trim_start_matches('0').to_string();
    let int_part = format!(
        "{}{}",
        "0".repeat(min_int.saturating_sub(int_part.len())),
        int_part
    );
    let int_part = if grouping {
        group_thousands(&int_part)
    } else {
        int_part
    };
    let body = if frac_part.is_empty() {
        int_part
    } else {
        format!("{int_part}.{frac_part}")
    };
    let sign = if body.chars().all(|c| matches!(c, '0' | '.' | ',')) {
        ""
    } else {
        sign
    };
    Some(format!("{prefix}{sign}{body}{suffix}"))
}

pub fn ticks_to_naive(ticks: i64) -> Option<NaiveDateTime> {
    let days = ticks.div_euclid(TICKS_PER_DAY);
    let rem = ticks.rem_euclid(TICKS_PER_DAY);
    let date =
        NaiveDate::from_ymd_opt(1, 1, 1)?.checked_add_days(chrono::Days::new(days as u64))?;
    let secs = (rem / TICKS_PER_SECOND) as u32;
    let nanos = ((rem % TICKS_PER_SECOND) * 100) as u32;
    date.and_hms_nano_opt(secs / 3600, secs / 60 % 60, secs % 60, nanos)
}

pub fn naive_to_ticks(dt: &NaiveDateTime) -> i64 {
    let base = NaiveDate::from_ymd_opt(1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    match base {
        Some(base) => {
            let d = *dt - base;
            d.num_seconds() * TICKS_PER_SECOND + i64::from(dt.nanosecond() % 1_000_000_000) / 100
        }
        None => 0,
    }
}

const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

pub fn day_name(dt: &NaiveDateTime) -> &'static str {
    DAY_NAMES[dt.weekday().num_days_from_monday() as usize]
}

/// How a DateTime's zone prints: `K` / `zzz` / `Z` in round-trip formats.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    /// DateTimeKind.Unspecified: nothing.
    None,
    /// DateTimeKind.Utc: `Z`.
    Utc,
    /// An offset in minutes (DateTimeOffset, or Local).
    Offset(i32),
}

fn offset_text(minutes: i32, colon: bool) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.abs();
    if colon {
        format!("{sign}{:02}:{:02}", m / 60, m % 60)
    } else {
        format!("{sign}{:02}{:02}", m / 60, m % 60)
    }
}

/// DateTime / DateTimeOffset `ToString(format)` with the invariant culture. `None` for an unknown standard format.
pub fn format_datetime(ticks: i64, zone: Zone, format: &str) -> Option<String> {
    let dt = ticks_to_naive(ticks)?;
    let expanded: String = match format {
        "" | "G" => match zone {
            Zone::Offset(m) => {
                return Some(format!(
                    "{} {}",
                    format_datetime(ticks, Zone::None, "G")?,
                    offset_text(m, true)
                ));
            }
            _ => "MM/dd/yyyy HH:mm:ss".into(),
        },
        "o" | "O" => {
            let base = format_datetime(ticks, Zone::None, "yyyy-MM-ddTHH:mm:ss.fffffff")?;
            return Some(match zone {
                Zone::None => base,
                Zone::Utc => format!("{base}Z"),
                Zone::Offset(m) => format!("{base}{}", offset_text(m, true)),
            });
        }
        "s" => "yyyy-MM-ddTHH:mm:ss".into(),
        "u" => "yyyy-MM-dd HH:mm:ssZ".into(),
        "r" | "R" => "ddd, dd MMM yyyy HH:mm:ss 'GMT'".into(),
        "d" => "MM/dd/yyyy".into(),
        "D" => "dddd, dd MMMM yyyy".into(),
        "t" => "HH:mm".into(),
        "T" => "HH:mm:ss".into(),
        "g" => "MM/dd/yyyy HH:mm".into(),
        "f" => "dddd, dd MMMM yyyy HH:mm".into(),
        "F" => "dddd, dd MMMM yyyy HH:mm:ss".into(),
        "M" | "m" => "MMMM dd".into(),
        "Y" | "y" => "yyyy MMMM".into(),
        f if f.len() == 1 => return None,
        f => f.into(),
    };
    let chars: Vec<char> = expanded.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        match c {
            'y' => {
                let y = dt.year();
                match n {
                    1 => out.push_str(&(y % 100).to_string()),
                    2 => out.push_str(&format!("{:02}", y % 100)),
                    _ => out.push_str(&format!("{:0width$}", y, width = n)),
                }
            }
            'M' => match n {
                1 => out.push_str(&dt.month().to_string()),
                2 => out.push_str(&format!("{:02}", dt.month())),
                3 => out.push_str(&MONTH_NAMES[dt.month0() as usize][..3]),
                _ => out.push_str(MONTH_NAMES[dt.month0() as usize]),
            },
            'd' => match n {
                1 => out.push_str(&dt.day().to_string()),
                2 => out.push_str(&format!("{:02}", dt.day())),
                3 => out.push_str(&day_name(&dt)[..3]),
                _ => out.push_str(day_name(&dt)),
            },
            'H' => out.push_str(&if n == 1 {
                dt.hour().to_string()
            } else {
                format!("{:02}", dt.hour())
            }),
            'h' => {
                let h = match dt.hour() % 12 {
                    0 => 12,
                    h => h,
                };
                out.push_str(&if n == 1 {
                    h.to_string()
                } else {
                    format!("{h:02}")
                })
            }
            'm' => out.push_str(&if n == 1 {
                dt.minute().to_string()
            } else {
                format!("{:02}", dt.minute())
            }),
            's' => out.push_str(&if n == 1 {
                dt.second().to_string()
            } else {
                format!("{:02}", dt.second())
            }),
            'f' | 'F' => {
                let frac = format!("{:07}", ticks.rem_euclid(TICKS_PER_SECOND));
                let part = &frac[..n.min(7)];
                if c == 'F' {
                    let trimmed = part.trim_end_matches('0');
                    if trimmed.is_empty() && out.ends_with('.') {
                        out.pop();
                    }
                    out.push_str(trimmed);
                } else {
                    out.push_str(part);
                }
            }
            't' => {
                let ampm = if dt.hour() < 12 { "AM" } else { "PM" };
                out.push_str(if n == 1 { &ampm[..1] } else { ampm });
            }
            'z' => {
                let m = match zone {
                    Zone::Offset(m) => m,
                    _ => 0,
                };
                match n {
                    1 => out.push_str(&format!(
                        "{}{}",
                        if m < 0 { '-' } else { '+' },
                        m.abs() / 60
                    )),
                    2 => out.push_str(&format!(
                        "{}{:02}",
                        if m < 0 { '-' } else { '+' },
                        m.abs() / 60
                    )),
                    _ => out.push_str(&offset_text(m, true)),
                }
            }
            'K' => match zone {
                Zone::None => {}
                Zone::Utc => out.push('Z'),
                Zone::Offset(m) => out.push_str(&offset_text(m, true)),
            },
            '\'' | '"' => {
                let mut j = i + 1;
                while j < chars.len() && chars[j] != c {
                    out.push(chars[j]);
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            _ => {
                for _ in 0..n {
                    out.push(c);
                }
            }
        }
        i += n;
    }
    Some(out)
}

/// `TimeSpan.ToString()`: `[-][d.]hh:mm:ss[.fffffff]`.
pub fn timespan_to_string(ticks: i64) -> String {
    let sign = if ticks < 0 { "-" } else { "" };
    let t = ticks.unsigned_abs() as i64;
    let days = t / TICKS_PER_DAY;
    let rem = t % TICKS_PER_DAY;
    let secs = rem / TICKS_PER_SECOND;
    let frac = rem % TICKS_PER_SECOND;
    let mut s = String::from(sign);
    if days > 0 {
        s.push_str(&format!("{days}."));
    }
    s.push_str(&format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ));
    if frac > 0 {
        s.push_str(&format!(".{frac:07}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_dotnet_core() {
        assert_eq!(double_to_string(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(double_to_string(1e15), "1E+15");
        assert_eq!(double_to_string(123456789012345.0), "123456789012345");
        assert_eq!(double_to_string(0.0001), "0.0001");
        assert_eq!(double_to_string(0.00001), "1E-05");
        assert_eq!(double_to_string(2.5), "2.5");
        assert_eq!(double_to_string(-3.0), "-3");
    }

    #[test]
    fn numeric_formats() {
        assert_eq!(
            format_number(Num::Float(1234.567), "N2").as_deref(),
            Some("1,234.57")
        );
        assert_eq!(format_number(Num::Int(5), "D3").as_deref(), Some("005"));
        assert_eq!(format_number(Num::Float(2.5), "F0").as_deref(), Some("3"));
        assert_eq!(format_number(Num::Int(255), "X").as_deref(), Some("FF"));
        assert_eq!(
            format_number(Num::Float(1.23456), "0.00").as_deref(),
            Some("1.23")
        );
    }

    #[test]
    fn dates() {
        let t = 639029198450000000; // 2026-01-02T03:04:05Z
        assert_eq!(
            format_datetime(t, Zone::Utc, "o").as_deref(),
            Some("2026-01-02T03:04:05.0000000Z")
        );
        assert_eq!(
            format_datetime(t, Zone::Utc, "yyyy-MM-dd HH:mm").as_deref(),
            Some("2026-01-02 03:04")
        );
        assert_eq!(
            format_datetime(t, Zone::Utc, "").as_deref(),
            Some("01/02/2026 03:04:05")
        );
    }
}
