//! Byte-level BPE tokenizer from GGUF metadata, as llama.cpp runs it.
//!
//! This is llama.cpp's `llm_tokenizer_bpe` (`src/llama-vocab.cpp`) for vocabularies with
//! `tokenizer.ggml.model = "gpt2"`:
//!
//! 1. **Special-token partition.** Control and unknown tokens are cut out of the text only when
//!    asked to ([`EncodeOptions::parse_special`]); user-defined tokens always are (llama.cpp's
//!    `tokenizer_st_partition`, longest token text first).
//! 2. **Pre-tokenization** of every remaining piece of text into words with the regexes llama.cpp
//!    selects from `tokenizer.ggml.pre` ([`PreTokenizer`]), each applied to the pieces the previous
//!    one produced. The GPT-2 regex is a port of llama.cpp's hand-written
//!    `unicode_regex_split_custom_gpt2`, not a regex engine.
//! 3. **Byte-level encoding**: every byte of a word becomes one character of GPT-2's
//!    `bytes_to_unicode` table ([`byte_to_char`]); vocabulary and merges are stored in that form.
//! 4. **BPE**: within each word, the adjacent pair of symbols with the lowest merge rank is merged
//!    first, ties going to the leftmost pair, until no pair has a rank.
//! 5. Every final symbol that is a token gives its id. A symbol that is not a token (possible only
//!    with a vocabulary whose merge results are not all tokens) falls back to one token per byte;
//!    a byte without a single-byte token is dropped, as in llama.cpp.
//!
//! With SmolLM2's vocabulary (`pre = "smollm"`) the ids equal llama.cpp's (`llama-tokenize`,
//! `llama-perplexity`) on every text `tests/tokenizer.rs` checks: seven State of the Union
//! addresses and a stress text of digits, scripts, emoji, whitespace runs and control characters.
//!
//! Unicode classes are those of llama.cpp's tables: `\p{L}` is general category L (Lu, Ll, Lt, Lm,
//! Lo), `\p{N}` is category N (Nd, Nl, No), both from the `unicode-general-category` crate, and
//! `\s` is the Unicode `White_Space` property ([`char::is_whitespace`]), which is exactly
//! llama.cpp's `unicode_set_whitespace`. Differences can only come from the Unicode version (16.0
//! here) for code points assigned since the version llama.cpp generated its tables from.
//!
//! Deliberate differences from llama.cpp, none of which shows with a well-formed vocabulary:
//! duplicate or empty token texts, unknown token types and merges without a space are errors
//! rather than being silently accepted; the byte fallback of step 5 emits one token per byte
//! (llama.cpp looks up the UTF-8 bytes of the byte-level form and so drops every byte outside
//! `!`..=`~`); tokens of type [`TokenType::Byte`] decode like normal tokens.
//!
//! # Example
//!
//! ```
//! use quant_eval::tokenizer::{byte_to_char, PreTokenizer, Tokenizer};
//!
//! // The 256 single-byte tokens, then a few merged ones.
//! let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_to_char(b).to_string()).collect();
//! tokens.extend(["he", "ll", "hell", "hello", "Ġw"].map(String::from));
//! let merges = ["h e", "l l", "he ll", "hell o", "Ġ w"];
//! let tok = Tokenizer::from_vocab(tokens, merges, PreTokenizer::Gpt2)?;
//!
//! let ids = tok.encode("hello world");
//! assert_eq!(&ids[..2], &[259, 260]); // "hello", "Ġw"
//! assert_eq!(ids.len(), 2 + 4); // "o", "r", "l", "d" stay single bytes
//! assert_eq!(tok.decode(&ids)?, "hello world");
//! assert_eq!(tok.token_to_piece(260, false)?, b" w");
//! # Ok::<(), quant_eval::tokenizer::TokenizerError>(())
//! ```

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};

use quant_gguf::{Gguf, Value};
use unicode_general_category::{GeneralCategory, get_general_category};

/// Errors building a tokenizer or decoding token ids.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// A required GGUF metadata key is absent.
    #[error("GGUF metadata key `{0}` is missing")]
    MissingKey(&'static str),
    /// A GGUF metadata value (or an element of an array value) has the wrong type.
    #[error("GGUF metadata key `{key}` is not {expected}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What the value should have been.
        expected: &'static str,
    },
    /// `tokenizer.ggml.model` names a tokenizer other than `gpt2` (byte-level BPE).
    #[error("unsupported tokenizer model `{0}` (only `gpt2` byte-level BPE is implemented)")]
    UnsupportedModel(String),
    /// `tokenizer.ggml.pre` names a pre-tokenizer this module does not implement.
    #[error("unsupported pre-tokenizer `{0}`")]
    UnsupportedPreTokenizer(String),
    /// A merge is not two non-empty symbols separated by a space.
    #[error("merge {index} `{merge}` is not two symbols separated by a space")]
    MalformedMerge {
        /// Position of the merge in the merge list (its rank).
        index: usize,
        /// The merge text.
        merge: String,
    },
    /// A token's text is empty.
    #[error("token {id} is empty")]
    EmptyToken {
        /// The token id.
        id: u32,
    },
    /// Two tokens have the same text.
    #[error("token {second} `{text}` duplicates token {first}")]
    DuplicateToken {
        /// The shared text.
        text: String,
        /// The first id with that text.
        first: u32,
        /// The later id with that text.
        second: u32,
    },
    /// The token type array does not have one entry per token.
    #[error("{types} token types for {tokens} tokens")]
    TokenTypeCount {
        /// Number of tokens.
        tokens: usize,
        /// Number of token types.
        types: usize,
    },
    /// A token type value is not one of llama.cpp's `llama_token_type` values (0..=6).
    #[error("token {id} has unknown token type {value}")]
    InvalidTokenType {
        /// The token id.
        id: u32,
        /// The type value.
        value: i64,
    },
    /// A special-token id in the metadata is outside the vocabulary.
    #[error("`{key}` = {id} is outside the vocabulary of {vocab_size} tokens")]
    SpecialIdOutOfRange {
        /// The metadata key.
        key: &'static str,
        /// The id found.
        id: u64,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// The vocabulary has more tokens than `u32` ids can number.
    #[error("vocabulary of {0} tokens does not fit u32 ids")]
    VocabTooLarge(usize),
    /// A token id passed to [`Tokenizer::decode`] or [`Tokenizer::token_to_piece`] is outside the
    /// vocabulary.
    #[error("token id {id} is outside the vocabulary of {vocab_size} tokens")]
    UnknownId {
        /// The id.
        id: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
}

/// Token type, as stored in `tokenizer.ggml.token_type` (llama.cpp's `llama_token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// 0: undefined; decodes to nothing.
    Undefined,
    /// 1: an ordinary byte-level token.
    Normal,
    /// 2: the unknown token; a special token.
    Unknown,
    /// 3: a control token such as `<|endoftext|>`; a special token.
    Control,
    /// 4: a user-defined token; always matched verbatim in the text and decoded verbatim.
    UserDefined,
    /// 5: an unused slot; decodes to nothing.
    Unused,
    /// 6: a byte token; decoded like a normal token here.
    Byte,
}

impl TokenType {
    /// The type with GGUF value `v`, if there is one.
    pub fn from_gguf(v: i64) -> Option<Self> {
        Some(match v {
            0 => Self::Undefined,
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => return None,
        })
    }

    /// Whether the type is a special token that text matches only with
    /// [`EncodeOptions::parse_special`] and that decodes only when asked to.
    pub fn is_special(self) -> bool {
        matches!(self, Self::Control | Self::Unknown)
    }
}

/// The pre-tokenizer: how text is split into words before BPE (llama.cpp's regex list for a
/// `tokenizer.ggml.pre` value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PreTokenizer {
    /// The GPT-2 regex `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
    /// (pre types `gpt-2`, `mpt`, `olmo`, `jais`).
    Gpt2,
    /// `\p{N}` first (every number code point its own word), then the GPT-2 regex on the rest
    /// (pre types `starcoder`, `refact`, `command-r`, `smollm`, `codeshell`).
    Starcoder,
}

impl PreTokenizer {
    /// The pre-tokenizer llama.cpp uses for a `tokenizer.ggml.pre` value, if implemented here.
    pub fn from_gguf_name(name: &str) -> Option<Self> {
        match name {
            "gpt-2" | "mpt" | "olmo" | "jais" => Some(Self::Gpt2),
            "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" => Some(Self::Starcoder),
            _ => None,
        }
    }

    /// Split `text` into the words BPE runs on (before byte-level encoding).
    ///
    /// The words are consecutive, non-empty and concatenate to `text`.
    ///
    /// ```
    /// use quant_eval::tokenizer::PreTokenizer;
    /// let words = PreTokenizer::Starcoder.split("It's 42 o'clock!\n\n  Go");
    /// assert_eq!(words, ["It", "'s", " ", "4", "2", " o", "'", "clock", "!", "\n\n ", " Go"]);
    /// ```
    pub fn split<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut ends = Vec::new();
        let mut chars = Vec::new();
        self.split_ends(text, &mut chars, &mut ends);
        let mut words = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &e in &ends {
            let b = byte_offset(text, &chars, e);
            words.push(&text[start..b]);
            start = b;
        }
        words
    }

    /// Fill `chars` with (byte offset, char, flags) of `text` and `ends` with the end (char
    /// index) of every word.
    fn split_ends(&self, text: &str, chars: &mut Vec<CharInfo>, ends: &mut Vec<usize>) {
        chars.clear();
        ends.clear();
        chars.extend(text.char_indices().map(|(offset, c)| CharInfo {
            offset,
            c,
            flags: flags(c),
        }));
        match self {
            Self::Gpt2 => split_gpt2(chars, 0, chars.len(), ends),
            Self::Starcoder => {
                // `\p{N}`: every number code point is a piece, and so is each run between them.
                let mut start = 0;
                for i in 0..chars.len() {
                    if chars[i].flags & NUMBER != 0 {
                        split_gpt2(chars, start, i, ends);
                        ends.push(i + 1);
                        start = i + 1;
                    }
                }
                split_gpt2(chars, start, chars.len(), ends);
            }
        }
    }
}

fn byte_offset(text: &str, chars: &[CharInfo], index: usize) -> usize {
    chars.get(index).map_or(text.len(), |c| c.offset)
}

#[derive(Clone, Copy)]
struct CharInfo {
    offset: usize,
    c: char,
    flags: u8,
}

const LETTER: u8 = 1;
const NUMBER: u8 = 2;
const WHITESPACE: u8 = 4;
/// Set for every code point (llama.cpp's category flags are never all zero for a code point),
/// never for "past the end of the piece".
const IN_RANGE: u8 = 8;

fn flags(c: char) -> u8 {
    use GeneralCategory as G;
    let mut f = IN_RANGE;
    if c.is_ascii() {
        if c.is_ascii_alphabetic() {
            f |= LETTER;
        } else if c.is_ascii_digit() {
            f |= NUMBER;
        } else if c.is_ascii_whitespace() || c == '\x0b' {
            f |= WHITESPACE;
        }
        return f;
    }
    match get_general_category(c) {
        G::UppercaseLetter
        | G::LowercaseLetter
        | G::TitlecaseLetter
        | G::ModifierLetter
        | G::OtherLetter => f |= LETTER,
        G::DecimalNumber | G::LetterNumber | G::OtherNumber => f |= NUMBER,
        _ => {}
    }
    if c.is_whitespace() {
        f |= WHITESPACE;
    }
    f
}

/// llama.cpp's `unicode_regex_split_custom_gpt2` on the chars `ini..end`: pushes word ends.
fn split_gpt2(chars: &[CharInfo], ini: usize, end: usize, ends: &mut Vec<usize>) {
    let get = |p: usize| if p < end { Some(chars[p].c) } else { None };
    let fl = |p: usize| if p < end { chars[p].flags } else { 0 };
    let is_punct = |f: u8| f & (WHITESPACE | LETTER | NUMBER) == 0 && f != 0;
    let mut pos = ini;
    let mut add = |e: usize, pos: &mut usize| {
        if e > *pos {
            ends.push(e);
        }
        *pos = e;
    };
    while pos < end {
        let c = chars[pos].c;
        // 's|'t|'re|'ve|'m|'ll|'d
        if c == '\'' && pos + 1 < end {
            let n = chars[pos + 1].c;
            if matches!(n, 's' | 't' | 'm' | 'd') {
                add(pos + 2, &mut pos);
                continue;
            }
            if pos + 2 < end {
                let nn = chars[pos + 2].c;
                if matches!((n, nn), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
                    add(pos + 3, &mut pos);
                    continue;
                }
            }
        }
        let space = usize::from(c == ' ');
        let f2 = if space == 1 {
            fl(pos + 1)
        } else {
            chars[pos].flags
        };
        // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+"
        let class: Option<fn(u8) -> bool> = if f2 & LETTER != 0 {
            Some(|f| f & LETTER != 0)
        } else if f2 & NUMBER != 0 {
            Some(|f| f & NUMBER != 0)
        } else if is_punct(f2) {
            Some(|f| f & (WHITESPACE | LETTER | NUMBER) == 0 && f != 0)
        } else {
            None
        };
        if let Some(class) = class {
            let mut e = pos + space + 1;
            while class(fl(e)) {
                e += 1;
            }
            add(e, &mut pos);
            continue;
        }
        let mut n_ws = 0;
        while fl(pos + n_ws) & WHITESPACE != 0 {
            n_ws += 1;
        }
        if n_ws > 1 && get(pos + n_ws).is_some() {
            // \s+(?!\S): leave the last whitespace for the next word.
            add(pos + n_ws - 1, &mut pos);
        } else if n_ws > 0 {
            add(pos + n_ws, &mut pos);
        } else {
            add(pos + 1, &mut pos);
        }
    }
}

/// GPT-2's `bytes_to_unicode`: byte `b` as the character that stands for it in byte-level BPE
/// vocabularies (printable Latin-1 bytes as themselves, the other 68 as U+0100..U+0143 in order).
pub const fn byte_to_char(b: u8) -> char {
    BYTE_CHARS[b as usize]
}

/// The inverse of [`byte_to_char`].
pub const fn char_to_byte(c: char) -> Option<u8> {
    let u = c as u32;
    if u < 256 && is_printable_byte(u) {
        Some(u as u8)
    } else if u >= 256 && u < 256 + 68 {
        Some(NON_PRINTABLE[(u - 256) as usize])
    } else {
        None
    }
}

const fn is_printable_byte(b: u32) -> bool {
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
}

const BYTE_CHARS: [char; 256] = {
    let mut t = ['\0'; 256];
    let mut n = 0;
    let mut b = 0;
    while b < 256 {
        let u = if is_printable_byte(b) {
            b
        } else {
            n += 1;
            255 + n
        };
        t[b as usize] = match char::from_u32(u) {
            Some(c) => c,
            None => panic!("not a char"),
        };
        b += 1;
    }
    t
};

const NON_PRINTABLE: [u8; 68] = {
    let mut t = [0u8; 68];
    let mut n = 0;
    let mut b = 0;
    while b < 256 {
        if !is_printable_byte(b) {
            t[n] = b as u8;
            n += 1;
        }
        b += 1;
    }
    t
};

/// Options of [`Tokenizer::encode_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Prepend the BOS token (if the vocabulary has one). llama.cpp does so when the model's
    /// `tokenizer.ggml.add_bos_token` is true ([`Tokenizer::adds_bos`]).
    pub add_bos: bool,
    /// Match control and unknown tokens written out in the text (such as `<|im_start|>`) as those
    /// tokens. llama-perplexity does not.
    pub parse_special: bool,
}

/// A byte-level BPE tokenizer (see the [module documentation](self)).
#[derive(Clone, Debug)]
pub struct Tokenizer {
    pre: PreTokenizer,
    tokens: Vec<String>,
    types: Vec<TokenType>,
    /// Decoded bytes of every token.
    pieces: Vec<Box<[u8]>>,
    /// Symbol id of every byte. Symbol ids below the vocabulary size are token ids; above, merge
    /// operands and results that are not tokens.
    byte_sym: [Option<u32>; 256],
    /// Token id of every single-byte token.
    byte_token: [Option<u32>; 256],
    /// (left symbol, right symbol) -> (rank, merged symbol).
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Tokens matched verbatim before pre-tokenization, longest text first.
    specials: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
}

impl Tokenizer {
    /// A tokenizer from a vocabulary (in byte-level form, one entry per id) and a merge list
    /// (`"left right"`, lowest rank first). Every token is [`TokenType::Normal`]; there is no BOS
    /// or EOS token.
    ///
    /// # Errors
    /// [`TokenizerError::EmptyToken`], [`TokenizerError::DuplicateToken`],
    /// [`TokenizerError::MalformedMerge`], [`TokenizerError::VocabTooLarge`].
    pub fn from_vocab<T, M>(
        tokens: impl IntoIterator<Item = T>,
        merges: impl IntoIterator<Item = M>,
        pre: PreTokenizer,
    ) -> Result<Self, TokenizerError>
    where
        T: Into<String>,
        M: AsRef<str>,
    {
        Self::from_typed_vocab(
            tokens.into_iter().map(|t| (t, TokenType::Normal)),
            merges,
            pre,
        )
    }

    /// As [`Tokenizer::from_vocab`], with a type for every token.
    ///
    /// # Errors
    /// As [`Tokenizer::from_vocab`].
    pub fn from_typed_vocab<T, M>(
        tokens: impl IntoIterator<Item = (T, TokenType)>,
        merges: impl IntoIterator<Item = M>,
        pre: PreTokenizer,
    ) -> Result<Self, TokenizerError>
    where
        T: Into<String>,
        M: AsRef<str>,
    {
        let (tokens, types): (Vec<String>, Vec<TokenType>) =
            tokens.into_iter().map(|(t, ty)| (t.into(), ty)).unzip();
        Self::build(tokens, types, merges, pre)
    }

    /// The tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata.
    ///
    /// Reads `model` (must be `gpt2`), `pre`, `tokens`, `token_type` (optional: all normal),
    /// `merges`, `bos_token_id` and `eos_token_id` (optional) and `add_bos_token` (optional,
    /// false).
    ///
    /// # Errors
    /// [`TokenizerError::MissingKey`], [`TokenizerError::WrongType`],
    /// [`TokenizerError::UnsupportedModel`], [`TokenizerError::UnsupportedPreTokenizer`],
    /// [`TokenizerError::TokenTypeCount`], [`TokenizerError::InvalidTokenType`],
    /// [`TokenizerError::SpecialIdOutOfRange`] and the errors of [`Tokenizer::from_vocab`].
    pub fn from_gguf(gguf: &Gguf<'_>) -> Result<Self, TokenizerError> {
        const MODEL: &str = "tokenizer.ggml.model";
        const PRE: &str = "tokenizer.ggml.pre";
        const TOKENS: &str = "tokenizer.ggml.tokens";
        const TYPES: &str = "tokenizer.ggml.token_type";
        const MERGES: &str = "tokenizer.ggml.merges";
        const BOS: &str = "tokenizer.ggml.bos_token_id";
        const EOS: &str = "tokenizer.ggml.eos_token_id";
        const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";

        let string = |key: &'static str| -> Result<&str, TokenizerError> {
            gguf.get(key)
                .ok_or(TokenizerError::MissingKey(key))?
                .as_str()
                .ok_or(TokenizerError::WrongType {
                    key,
                    expected: "a string",
                })
        };
        let strings = |key: &'static str| -> Result<Vec<&str>, TokenizerError> {
            let wrong = TokenizerError::WrongType {
                key,
                expected: "an array of strings",
            };
            gguf.get(key)
                .ok_or(TokenizerError::MissingKey(key))?
                .as_array()
                .ok_or(wrong.clone())?
                .iter()
                .map(|v| v.as_str().ok_or(wrong.clone()))
                .collect()
        };

        let model = string(MODEL)?;
        if model != "gpt2" {
            return Err(TokenizerError::UnsupportedModel(model.to_owned()));
        }
        let pre_name = string(PRE)?;
        let pre = PreTokenizer::from_gguf_name(pre_name)
            .ok_or_else(|| TokenizerError::UnsupportedPreTokenizer(pre_name.to_owned()))?;
        let tokens: Vec<String> = strings(TOKENS)?.into_iter().map(str::to_owned).collect();
        let n = tokens.len();
        let types = match gguf.get(TYPES) {
            None => vec![TokenType::Normal; n],
            Some(v) => {
                let wrong = TokenizerError::WrongType {
                    key: TYPES,
                    expected: "an array of integers",
                };
                let arr = v.as_array().ok_or(wrong.clone())?;
                if arr.len() != n {
                    return Err(TokenizerError::TokenTypeCount {
                        tokens: n,
                        types: arr.len(),
                    });
                }
                arr.iter()
                    .enumerate()
                    .map(|(id, v)| {
                        let value = int_value(v).ok_or(wrong.clone())?;
                        TokenType::from_gguf(value).ok_or(TokenizerError::InvalidTokenType {
                            id: id as u32,
                            value,
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
        };
        let merges = strings(MERGES)?;
        let special = |key: &'static str| -> Result<Option<u32>, TokenizerError> {
            let Some(v) = gguf.get(key) else {
                return Ok(None);
            };
            let id = v.as_u64().ok_or(TokenizerError::WrongType {
                key,
                expected: "a non-negative integer",
            })?;
            if id >= n as u64 {
                return Err(TokenizerError::SpecialIdOutOfRange {
                    key,
                    id,
                    vocab_size: n,
                });
            }
            Ok(Some(id as u32))
        };
        let bos = special(BOS)?;
        let eos = special(EOS)?;
        let add_bos = match gguf.get(ADD_BOS) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(TokenizerError::WrongType {
                    key: ADD_BOS,
                    expected: "a bool",
                });
            }
        };
        let mut tok = Self::build(tokens, types, merges, pre)?;
        tok.bos = bos;
        tok.eos = eos;
        tok.add_bos = add_bos;
        Ok(tok)
    }

    fn build<M: AsRef<str>>(
        tokens: Vec<String>,
        types: Vec<TokenType>,
        merges: impl IntoIterator<Item = M>,
        pre: PreTokenizer,
    ) -> Result<Self, TokenizerError> {
        let n = tokens.len();
        if u32::try_from(n).is_err() {
            return Err(TokenizerError::VocabTooLarge(n));
        }
        // Symbol table: token texts first (symbol id = token id), then merge operands and
        // results that are not tokens.
        let mut sym_ids: HashMap<String, u32> = HashMap::with_capacity(2 * n);
        for (id, text) in tokens.iter().enumerate() {
            let id = id as u32;
            if text.is_empty() {
                return Err(TokenizerError::EmptyToken { id });
            }
            match sym_ids.entry(text.clone()) {
                Entry::Occupied(e) => {
                    return Err(TokenizerError::DuplicateToken {
                        text: text.clone(),
                        first: *e.get(),
                        second: id,
                    });
                }
                Entry::Vacant(e) => {
                    e.insert(id);
                }
            }
        }
        let mut next_sym = n as u64;
        let mut intern = |s: &str| -> Result<u32, TokenizerError> {
            if let Some(&id) = sym_ids.get(s) {
                return Ok(id);
            }
            let id = u32::try_from(next_sym).map_err(|_| TokenizerError::VocabTooLarge(n))?;
            next_sym += 1;
            sym_ids.insert(s.to_owned(), id);
            Ok(id)
        };
        let mut merge_map = HashMap::new();
        for (index, merge) in merges.into_iter().enumerate() {
            let merge = merge.as_ref();
            let malformed = || TokenizerError::MalformedMerge {
                index,
                merge: merge.to_owned(),
            };
            // llama.cpp: split at the first space after the first byte.
            let pos = merge
                .as_bytes()
                .iter()
                .skip(1)
                .position(|&b| b == b' ')
                .map(|p| p + 1)
                .ok_or_else(malformed)?;
            let (left, right) = (&merge[..pos], &merge[pos + 1..]);
            if right.is_empty() {
                return Err(malformed());
            }
            let rank = u32::try_from(index).map_err(|_| malformed())?;
            let l = intern(left)?;
            let r = intern(right)?;
            let m = intern(&[left, right].concat())?;
            // The first occurrence of a pair keeps its rank (llama.cpp's `emplace`).
            merge_map.entry((l, r)).or_insert((rank, m));
        }
        let mut byte_sym = [None; 256];
        let mut byte_token = [None; 256];
        for b in 0..=255u8 {
            let mut buf = [0u8; 4];
            let s = byte_to_char(b).encode_utf8(&mut buf);
            byte_sym[b as usize] = sym_ids.get(&*s).copied();
            byte_token[b as usize] = byte_sym[b as usize].filter(|&id| (id as usize) < n);
        }
        let pieces = tokens
            .iter()
            .zip(&types)
            .map(|(text, ty)| match ty {
                TokenType::Normal | TokenType::Byte => decode_byte_level(text),
                _ => text.as_bytes().into(),
            })
            .collect();
        let mut specials: Vec<u32> = (0..n as u32)
            .filter(|&id| {
                matches!(
                    types[id as usize],
                    TokenType::Control | TokenType::Unknown | TokenType::UserDefined
                )
            })
            .collect();
        // Longest first (llama.cpp sorts by text length; equal lengths keep id order here).
        specials.sort_by_key(|&id| Reverse(tokens[id as usize].len()));
        Ok(Self {
            pre,
            tokens,
            types,
            pieces,
            byte_sym,
            byte_token,
            merges: merge_map,
            specials,
            bos: None,
            eos: None,
            add_bos: false,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The BOS token, if the GGUF metadata names one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// The EOS token, if the GGUF metadata names one.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// Whether the model asks for a BOS token in front of its input
    /// (`tokenizer.ggml.add_bos_token`).
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// The pre-tokenizer.
    pub fn pre_tokenizer(&self) -> PreTokenizer {
        self.pre
    }

    /// The text of token `id` as stored in the vocabulary (byte-level form), if it exists.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The type of token `id`, if it exists.
    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    /// Tokenize `text` as llama-perplexity does: no BOS, special tokens not parsed
    /// (`EncodeOptions::default()`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.encode_with(text, EncodeOptions::default())
    }

    /// Tokenize `text` with `options`.
    pub fn encode_with(&self, text: &str, options: EncodeOptions) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if options.add_bos
            && let Some(bos) = self.bos
        {
            out.push(bos);
        }
        let mut scratch = Scratch::default();
        for fragment in self.partition(text, options.parse_special) {
            match fragment {
                Fragment::Token(id) => out.push(id),
                Fragment::Text(s) => self.encode_text(s, &mut scratch, &mut out),
            }
        }
        out
    }

    /// Cut the special tokens out of `text` (llama.cpp's `tokenizer_st_partition`).
    fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let mut frags = vec![Fragment::Text(text)];
        for &id in &self.specials {
            if !parse_special && self.types[id as usize].is_special() {
                continue;
            }
            let special = self.tokens[id as usize].as_str();
            if !frags
                .iter()
                .any(|f| matches!(f, Fragment::Text(s) if s.contains(special)))
            {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                let Fragment::Text(s) = f else {
                    next.push(f);
                    continue;
                };
                let mut start = 0;
                for (i, _) in s.match_indices(special) {
                    if i > start {
                        next.push(Fragment::Text(&s[start..i]));
                    }
                    next.push(Fragment::Token(id));
                    start = i + special.len();
                }
                if start < s.len() {
                    next.push(Fragment::Text(&s[start..]));
                }
            }
            frags = next;
        }
        frags
    }

    fn encode_text(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<u32>) {
        self.pre
            .split_ends(text, &mut scratch.chars, &mut scratch.ends);
        let mut start = 0;
        for i in 0..scratch.ends.len() {
            let end = byte_offset(text, &scratch.chars, scratch.ends[i]);
            self.bpe_word(
                &text.as_bytes()[start..end],
                &mut scratch.syms,
                &mut scratch.heap,
                out,
            );
            start = end;
        }
    }

    /// llama.cpp's `llm_tokenizer_bpe_session::tokenize` for one word.
    fn bpe_word(&self, word: &[u8], syms: &mut Vec<Sym>, heap: &mut Heap, out: &mut Vec<u32>) {
        syms.clear();
        heap.clear();
        let n = word.len();
        syms.extend(word.iter().enumerate().map(|(i, &b)| Sym {
            sym: self.byte_sym[b as usize],
            start: i as u32,
            len: 1,
            prev: i as i32 - 1,
            next: if i + 1 == n { -1 } else { i as i32 + 1 },
        }));
        for i in 1..n {
            self.push_pair(syms, heap, i - 1, i);
        }
        while let Some(Reverse((_, left, right, left_len, right_len, merged))) = heap.pop() {
            let (l, r) = (left as usize, right as usize);
            // Skip pairs whose symbols have changed since they were queued.
            if syms[l].len != left_len || syms[r].len != right_len {
                continue;
            }
            syms[l].sym = Some(merged);
            syms[l].len += syms[r].len;
            syms[r].len = 0;
            let rn = syms[r].next;
            syms[l].next = rn;
            if rn >= 0 {
                syms[rn as usize].prev = left as i32;
            }
            if syms[l].prev >= 0 {
                self.push_pair(syms, heap, syms[l].prev as usize, l);
            }
            if syms[l].next >= 0 {
                self.push_pair(syms, heap, l, syms[l].next as usize);
            }
        }
        let vocab = self.tokens.len();
        for s in syms.iter().filter(|s| s.len > 0) {
            match s.sym.filter(|&id| (id as usize) < vocab) {
                Some(id) => out.push(id),
                None => {
                    let bytes = &word[s.start as usize..(s.start + s.len) as usize];
                    out.extend(bytes.iter().filter_map(|&b| self.byte_token[b as usize]));
                }
            }
        }
    }

    fn push_pair(&self, syms: &[Sym], heap: &mut Heap, left: usize, right: usize) {
        let (Some(l), Some(r)) = (syms[left].sym, syms[right].sym) else {
            return;
        };
        if let Some(&(rank, merged)) = self.merges.get(&(l, r)) {
            heap.push(Reverse((
                rank,
                left as u32,
                right as u32,
                syms[left].len,
                syms[right].len,
                merged,
            )));
        }
    }

    /// The bytes token `id` stands for: the decoded byte-level text of a normal token, the text
    /// of a user-defined token, and the text of a control or unknown token only if
    /// `render_special` (else nothing, as llama.cpp's `token_to_piece` with `special = false`).
    ///
    /// # Errors
    /// [`TokenizerError::UnknownId`] if `id` is not in the vocabulary.
    pub fn token_to_piece(&self, id: u32, render_special: bool) -> Result<&[u8], TokenizerError> {
        let ty = self.token_type(id).ok_or(TokenizerError::UnknownId {
            id,
            vocab_size: self.vocab_size(),
        })?;
        Ok(match ty {
            TokenType::Normal | TokenType::Byte | TokenType::UserDefined => {
                &self.pieces[id as usize]
            }
            TokenType::Control | TokenType::Unknown if render_special => &self.pieces[id as usize],
            _ => &[],
        })
    }

    /// The bytes `ids` stand for, concatenated (see [`Tokenizer::token_to_piece`]).
    ///
    /// # Errors
    /// [`TokenizerError::UnknownId`] for an id outside the vocabulary.
    pub fn decode_bytes(
        &self,
        ids: &[u32],
        render_special: bool,
    ) -> Result<Vec<u8>, TokenizerError> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            out.extend_from_slice(self.token_to_piece(id, render_special)?);
        }
        Ok(out)
    }

    /// The text `ids` stand for, special tokens left out, invalid UTF-8 replaced by U+FFFD.
    /// `decode(&encode(s)) == s` for every `s` when every byte has a token.
    ///
    /// # Errors
    /// [`TokenizerError::UnknownId`] for an id outside the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let bytes = self.decode_bytes(ids, false)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }
}

/// Bytes of a byte-level token; a character outside the byte table stands for its own UTF-8.
fn decode_byte_level(text: &str) -> Box<[u8]> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out.into()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// A BPE symbol: a run of bytes of the word, linked to its neighbours.
#[derive(Clone, Copy)]
struct Sym {
    /// Symbol id (`None`: a byte whose character appears in no token or merge).
    sym: Option<u32>,
    start: u32,
    /// Length in bytes; 0 once merged into its left neighbour.
    len: u32,
    prev: i32,
    next: i32,
}

/// Queue of candidate merges: (rank, left, right, left len, right len, merged symbol), lowest
/// rank then leftmost first.
type Heap = BinaryHeap<Reverse<(u32, u32, u32, u32, u32, u32)>>;

#[derive(Default)]
struct Scratch {
    chars: Vec<CharInfo>,
    ends: Vec<usize>,
    syms: Vec<Sym>,
    heap: Heap,
}

fn int_value(v: &Value) -> Option<i64> {
    match *v {
        Value::I8(x) => Some(x.into()),
        Value::I16(x) => Some(x.into()),
        Value::I32(x) => Some(x.into()),
        Value::I64(x) => Some(x),
        _ => v.as_u64().and_then(|x| i64::try_from(x).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_gpt2() {
        assert_eq!(byte_to_char(b'!'), '!');
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(0), '\u{100}');
        assert_eq!(byte_to_char(0xad), '\u{143}');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(char_to_byte('\u{144}'), None);
        assert_eq!(char_to_byte(' '), None);
    }
}
