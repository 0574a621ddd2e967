//! METEOR 1.5's `-norm` tokenizer for English (its `Normalizer.normalizeLine`, itself based on the
//! Moses tokenizer), followed by lower-casing, as pycocoevalcap runs it.
//!
//! Java regular expressions are rewritten with the same meaning: `\s` is ASCII whitespace,
//! `\p{Digit}` is `[0-9]`, `\p{Lower}` is `[a-z]`, and `replaceAll` is leftmost-first and
//! non-overlapping, as in the `regex` crate.

use std::sync::LazyLock;

use regex::Regex;
use rustc_hash::FxHashMap;

/// METEOR's Western-European and Cyrillic letters (its `alpha`).
const ALPHA: &str = "A-Za-zŠŽšžŸÀ-ÖØ-öø-žЀ-ӿԀ-ԧꙀ-ꙮ꙾-ꚗᴀ-ᵿ";

/// Whether a nonbreaking prefix keeps its dot before anything, or only before a number.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Nonbreaking {
    Any,
    NumericOnly,
}

struct Rules {
    sep_other: Regex,
    multi_dot: Regex,
    multi_dot2: Regex,
    comma: [Regex; 3],
    quote: Regex,
    quote2: Regex,
    rm_dash: Regex,
    cont: [Regex; 5],
    has_alpha: Regex,
    white: Regex,
    prefixes: FxHashMap<String, Nonbreaking>,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("METEOR normalizer pattern")
}

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    let alnum = format!("0-9{ALPHA}");
    let mut prefixes = FxHashMap::default();
    for line in include_str!("../../data/meteor_nonbreaking_prefixes_en.txt").lines() {
        let mut tokens = line
            .split(is_java_token_delimiter)
            .filter(|t| !t.is_empty());
        let Some(prefix) = tokens.next() else {
            continue;
        };
        if prefix.starts_with('#') {
            continue;
        }
        let kind = match tokens.next() {
            Some("#NUMERIC_ONLY#") => Nonbreaking::NumericOnly,
            _ => Nonbreaking::Any,
        };
        prefixes.insert(prefix.to_string(), kind);
    }
    Rules {
        sep_other: re(&format!("([^{alnum} \\t\\n\\x0B\\x0C\\r.'`,\\-‘’])")),
        multi_dot: re(r"\.(\.+)"),
        multi_dot2: re(r"DOTMULTI\.([^.])"),
        comma: [
            re("([^0-9]),([^0-9])"),
            re("([0-9]),([^0-9])"),
            re("([^0-9]),([0-9])"),
        ],
        quote: re("[`‘’]"),
        quote2: re("[“”]|''"),
        rm_dash: re(&format!("([{alnum}.])-([{alnum}])")),
        cont: [
            re(&format!("([^{ALPHA}])'([^{ALPHA}])")),
            re(&format!("([^{ALPHA}0-9])'([{ALPHA}])")),
            re(&format!("([{ALPHA}])'([^{ALPHA}])")),
            re(&format!("([{ALPHA}])'([{ALPHA}])")),
            re("([0-9])'(s)"),
        ],
        has_alpha: re(&format!("[{ALPHA}]")),
        white: re("[  \u{2000}-\u{200A}\u{202F}\u{205F}\u{3000}\u{A0}]+"),
        prefixes,
    }
});

/// `java.util.StringTokenizer`'s default delimiters.
pub(crate) fn is_java_token_delimiter(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0C')
}

/// Java's `String.trim`: strips every char up to U+0020 from both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// `Normalizer.normalizeLine(line, LANG_EN, keepPunctuation = true)` then `toLowerCase()`.
pub(crate) fn normalize(line: &str) -> String {
    let r = &*RULES;
    let mut s = format!(" {line} ");
    s = r.sep_other.replace_all(&s, " ${1} ").into_owned();
    s = r.multi_dot.replace_all(&s, " DOTMULTI${1}").into_owned();
    while s.contains("DOTMULTI.") {
        s = r
            .multi_dot2
            .replace_all(&s, "DOTDOTMULTI ${1}")
            .into_owned();
        s = s.replace("DOTMULTI.", "DOTDOTMULTI");
    }
    for comma in &r.comma {
        s = comma.replace_all(&s, "${1} , ${2}").into_owned();
    }
    s = r.quote.replace_all(&s, "'").into_owned();
    s = r.quote2.replace_all(&s, " \" ").into_owned();
    s = s.replace('–', "-").replace("--", "-");
    s = r.rm_dash.replace_all(&s, "${1} ${2}").into_owned();
    for (k, cont) in r.cont.iter().enumerate() {
        let with = if k < 3 { "${1} ' ${2}" } else { "${1} '${2}" };
        s = cont.replace_all(&s, with).into_owned();
    }
    // Split on whitespace, then break a word's final dot unless it is a nonbreaking prefix.
    let words: Vec<&str> = s
        .split(is_java_token_delimiter)
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = String::with_capacity(s.len() + 8);
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1);
        match word.strip_suffix('.') {
            Some(pre) if word.encode_utf16().count() > 1 => {
                let kind = r.prefixes.get(pre).copied();
                if pre.contains('.') && r.has_alpha.is_match(pre) {
                    out.push_str(&word.replace('.', ""));
                } else if kind == Some(Nonbreaking::Any)
                    || next.is_some_and(|n| n.starts_with(|c: char| c.is_ascii_lowercase()))
                    || (kind == Some(Nonbreaking::NumericOnly)
                        && next.is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit())))
                {
                    // Nonbreaking: always, before a lowercase word, or before a number.
                    out.push_str(word);
                } else {
                    out.push_str(pre);
                    out.push_str(" .");
                }
            }
            _ => out.push_str(word),
        }
        out.push(' ');
    }
    while out.contains("DOTDOTMULTI") {
        out = out.replace("DOTDOTMULTI", "DOTMULTI.");
    }
    let out = out.replace("DOTMULTI", ".");
    let out = r.white.replace_all(&out, " ");
    java_trim(&out).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn tokenizes_like_meteor() {
        // Expected strings come from meteor-1.5.jar's Normalizer (then toLowerCase).
        let cases = [
            ("The heart is normal.", "the heart is normal ."),
            ("no effusion, no edema", "no effusion , no edema"),
            ("size 1,500 and 2.5 cm", "size 1,500 and 2.5 cm"),
            ("x-xxxx  ... well", "x xxxx ... well"),
            ("U.S.-based Dr. Smith", "us based dr. smith"),
            ("it's the patient's", "it 's the patient 's"),
            ("(left) [right]: 3%", "( left ) [ right ] : 3 %"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "input {input:?}");
        }
    }
}
