#!/usr/bin/env python3
"""Golden cases for trrg-data's report cleaners.

Behaviour followed (re-implemented here from the published code, with Python 3's `re` and `str`
so that regex and whitespace semantics are Python's):
  * `iu_xray`      - cuhksz-nlp/R2Gen `modules/tokenizers.py` `Tokenizer.clean_report_iu_xray`
  * `mimic_cxr`    - cuhksz-nlp/R2Gen `modules/tokenizers.py` `Tokenizer.clean_report_mimic_cxr`
  * `r2gengpt_mimic` - wang-zhanyu/R2GenGPT `dataset/data_helper.py` MIMIC cleaner
    (adds `.replace(':', ' :')`, character class without the `:-[` range)

Quirks kept on purpose: in `[.,?;*!%^&_+():-\\[\\]{}]` the `:-\\[` is a range (0x3A-0x5B);
`sent_cleaner(sent) != []` compares a str with a list, so empty sentences are kept; the result
always ends in ` .`.

Usage: python3 make_clean_golden.py > ../tests/fixtures/clean_golden.json   (Python 3.11)
"""
import json
import re
import sys

R2GEN_CLASS = '[.,?;*!%^&_+():-\\[\\]{}]'
R2GENGPT_CLASS = '[.,?;*!%^&_+()\\[\\]{}]'


def _numbering(t):
    return (t.replace('1. ', '').replace('. 2. ', '. ').replace('. 3. ', '. ').replace('. 4. ', '. ')
            .replace('. 5. ', '. ').replace(' 2. ', '. ').replace(' 3. ', '. ').replace(' 4. ', '. ')
            .replace(' 5. ', '. '))


def _mimic_squeeze(t):
    t = t.replace('\n', ' ')
    for _ in range(7):
        t = t.replace('__', '_')
    for _ in range(6):
        t = t.replace('  ', ' ')
    for _ in range(8):
        t = t.replace('..', '.')
    return t


def _sent(t, cls):
    return re.sub(cls, '', t.replace('"', '').replace('/', '').replace('\\', '').replace("'", '').strip().lower())


def _join(sents, cls):
    tokens = [_sent(s, cls) for s in sents if _sent(s, cls) != []]
    return ' . '.join(tokens) + ' .'


def iu_xray(report):
    t = report.replace('..', '.').replace('..', '.').replace('..', '.')
    return _join(_numbering(t).strip().lower().split('. '), R2GEN_CLASS)


def mimic_cxr(report):
    return _join(_numbering(_mimic_squeeze(report)).strip().lower().split('. '), R2GEN_CLASS)


def r2gengpt_mimic(report):
    t = _numbering(_mimic_squeeze(report)).replace(':', ' :')
    return _join(t.strip().lower().split('. '), R2GENGPT_CLASS)


INPUTS = [
    "The heart is normal in size. The mediastinum is unremarkable. The lungs are clear.",
    "1. No acute cardiopulmonary abnormality. 2. Stable cardiomegaly.",
    "Findings: 1. Heart size normal. 2. Lungs clear. 3. No effusion. 4. No pneumothorax. 5. Bones intact.",
    "Heart size is normal.. Lungs are clear...",
    "Heart size is normal.... Lungs are clear.....  No effusion......",
    "There are no XXXX of a pleural effusion. Inferior XXXX XXXX XXXX.",
    "Borderline cardiomegaly. Midline sternotomy XXXX. Enlarged pulmonary arteries. Clear lungs.",
    "The lungs are clear.\nNo pleural effusion.\n\nNo pneumothorax.",
    "PA and lateral views of the chest were obtained.\n \nThe heart __ size is ____ normal.",
    "Comparison: ___. Findings: ET tube tip 4.5 cm above the carina.",
    "T-spine degenerative changes; no acute fracture (stable).",
    "Lungs: clear. Heart: normal! Effusion? none; pneumothorax * absent.",
    "Calcified granuloma in the right upper lobe [unchanged] {stable} since 2010.",
    "Left basilar opacity -- likely atelectasis vs. pneumonia.",
    "He said \"no acute disease\" / O'Brien's sign \\ absent.",
    "Symbols <=> @ ; and 5% ^ & + are removed.",
    "Œdème pulmonaire. Épanchement pleural gauche. Über große Herzsilhouette.",
    "Unicode dashes \u2013 and \u2014 stay; \u00b5m and \u00b0 too.",
    "Non-breaking\u00a0space. Zero\u200bwidth. Ideographic\u3000space.",
    "   Leading and trailing spaces.   ",
    "",
    ".",
    ". . .",
    "No acute disease",
    "Heart normal.  Lungs clear. ",
    "Sentence one. . Sentence two.",
    "11. Lines 12. and 21. numbering 1.5 cm nodule.",
    "Item 2. Item 3. item 4. item 5. item 6.",
    "Tabs\there.\tAnd\tthere.",
    "Trailing period with newline.\n",
    "Separator\x1ccharacters\x1fat the edges\x1e",
    "ÇAPITALS ARE LOWERED. İSTANBUL. ΣΟΦΟΣ.",
    "Colons: kept in R2GenGPT: not in R2Gen.",
    "Emoji \U0001F600 stays. Done.",
    "A 1. B 2. C",
    "MULTIPLE\n\nNEWLINES\n\n\nAND    SPACES        HERE.",
]


def main():
    cases = [{"input": s, "iu_xray": iu_xray(s), "mimic_cxr": mimic_cxr(s),
              "r2gengpt_mimic": r2gengpt_mimic(s)} for s in INPUTS]
    json.dump({"generator": "crates/data/scripts/make_clean_golden.py", "python": sys.version.split()[0],
               "cases": cases}, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
