//! Chat prompt templates: ChatML (SmolLM2, Qwen) and Llama-2's `[INST]`.

/// A chat prompt format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\ntext<|im_end|>\n` turns, ending with an open assistant turn.
    ChatMl,
    /// Llama-2: `<s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST]`.
    Llama2,
}

impl ChatTemplate {
    /// The template a tokenizer is built for: ChatML when it knows `<|im_start|>`, else Llama-2.
    pub fn for_tokenizer(tokenizer: &tokenizers::Tokenizer) -> Self {
        if tokenizer.token_to_id("<|im_start|>").is_some() {
            Self::ChatMl
        } else {
            Self::Llama2
        }
    }

    /// One user turn (with an optional system message) ready for the assistant's reply. No
    /// default system message is added.
    ///
    /// ```
    /// use trrg_llm::ChatTemplate;
    /// assert_eq!(
    ///     ChatTemplate::ChatMl.render(None, "Hi"),
    ///     "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    /// );
    /// assert_eq!(ChatTemplate::Llama2.render(None, "Hi"), "<s>[INST] Hi [/INST]");
    /// ```
    pub fn render(self, system: Option<&str>, user: &str) -> String {
        match self {
            Self::ChatMl => {
                let system = system
                    .map(|s| format!("<|im_start|>system\n{s}<|im_end|>\n"))
                    .unwrap_or_default();
                format!("{system}<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
            }
            Self::Llama2 => match system {
                Some(s) => format!("<s>[INST] <<SYS>>\n{s}\n<</SYS>>\n\n{user} [/INST]"),
                None => format!("<s>[INST] {user} [/INST]"),
            },
        }
    }
}
