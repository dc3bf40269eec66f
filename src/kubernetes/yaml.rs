//! Tera filters that keep profile values and file contents inside one YAML scalar.

use tera::{Kwargs, State};

/// A YAML double-quoted scalar (a JSON string is one). Control characters are refused: no
/// value may start a new line, and so a new key, in a manifest.
pub fn yaml_quote(value: &str, _: Kwargs, _: &State) -> tera::TeraResult<String> {
    if value.chars().any(char::is_control) {
        return Err(tera::Error::message(format!(
            "yaml_quote: {value:?} contains a control character"
        )));
    }
    Ok(serde_json::to_string(value).expect("strings serialize"))
}

/// A literal block scalar (`|`) of a file's content, its lines indented by `indent` spaces
/// (the key's own indentation plus two). Tabs and other control characters but newlines are
/// refused, as YAML would misread them.
pub fn yaml_block(value: &str, kwargs: Kwargs, _: &State) -> tera::TeraResult<String> {
    let indent: usize = kwargs.must_get("indent")?;
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(tera::Error::message(
            "yaml_block: the content has a control character other than a newline".to_string(),
        ));
    }
    let pad = " ".repeat(indent);
    let mut out = String::from("|");
    for line in value.trim_end_matches('\n').split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    Ok(out)
}
