//! Checks that a native document carries every field of the input record.

use serde_json::Value;

const CANONICAL: [&str; 17] = [
    "time",
    "resourceId",
    "operationName",
    "operationVersion",
    "category",
    "tenantId",
    "resultType",
    "resultSignature",
    "resultDescription",
    "durationMs",
    "callerIpAddress",
    "correlationId",
    "identity",
    "level",
    "location",
    "properties",
    "createdDateTime",
];

/// Every envelope field must be in `envelope` (under its canonical spelling, numbers allowed to
/// have become numbers), and `properties` must be equal up to decoded modified-property values.
pub fn check(input: &Value, native: &Value) -> Result<(), String> {
    let input = input.as_object().ok_or("input is not an object")?;
    let envelope = native
        .get("envelope")
        .and_then(Value::as_object)
        .ok_or("no envelope object")?;
    for (key, value) in input {
        if key.eq_ignore_ascii_case("properties") {
            let out = native.get("properties").ok_or("properties missing")?;
            same(value, out, "properties")?;
            continue;
        }
        let canonical = CANONICAL.iter().find(|c| c.eq_ignore_ascii_case(key));
        let out = canonical
            .and_then(|c| envelope.get(*c))
            .filter(|v| same(value, v, key).is_ok())
            .or_else(|| envelope.get(key))
            .ok_or_else(|| format!("envelope field {key} missing"))?;
        same(value, out, key)?;
    }
    Ok(())
}

fn same(input: &Value, out: &Value, path: &str) -> Result<(), String> {
    match (input, out) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let o = b.get(k).ok_or_else(|| format!("{path}.{k} missing"))?;
                if (k == "oldValue" || k == "newValue") && path.contains("modifiedProperties") {
                    decoded_same(v, o, &format!("{path}.{k}"))?;
                } else {
                    same(v, o, &format!("{path}.{k}"))?;
                }
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(
                    x,
                    y,
                    &format!("{path}.modifiedProperties[{i}]").replace(
                        ".modifiedProperties[",
                        if path.ends_with("modifiedProperties") {
                            ".modifiedProperties["
                        } else {
                            "["
                        },
                    ),
                )?;
            }
            Ok(())
        }
        // Numbers written as strings become numbers in the envelope.
        (Value::String(s), Value::Number(n)) if s.trim().parse::<i64>().ok() == n.as_i64() => {
            Ok(())
        }
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{path}: {a} became {b}")),
    }
}

fn decoded_same(input: &Value, out: &Value, path: &str) -> Result<(), String> {
    if input == out {
        return Ok(());
    }
    if let Value::String(s) = input
        && serde_json::from_str::<Value>(s).ok().as_ref() == Some(out)
    {
        return Ok(());
    }
    Err(format!("{path}: {input} became {out}"))
}
