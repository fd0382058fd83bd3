// data/tokenizer.cpp: word-level tokenizer (rules in tokenizer.h).
#include "data/tokenizer.h"

#include <algorithm>

#include "data/unicode_case.h"
#include "data/utf8.h"
#include "tensor/error.h"

namespace ld::data {

namespace {

enum class CharClass { Word, Apostrophe, Separator, Ignored };

// The classes of tokenizer.h. Ranges are Unicode blocks, coarsely: a letter of any script is
// Word (such a word is then unknown, and listed); punctuation and spaces separate words;
// symbols and emoji are Ignored (listed as such).
CharClass classify(char32_t c, bool valid) {
  if (!valid) return CharClass::Ignored;
  if (c < 0x80) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return CharClass::Word;
    if (c == '\'') return CharClass::Apostrophe;
    if (c == ' ' || (c >= '\t' && c <= '\r')) return CharClass::Separator;
    if (c < 0x20 || c == 0x7F) return CharClass::Ignored;  // control characters
    return CharClass::Separator;                           // ASCII punctuation
  }
  if (c == 0x2019 || c == 0x02BC) return CharClass::Apostrophe;  // ’ and the modifier apostrophe
  if (c == 0x85 || c == 0xA0 || c == 0xA1 || c == 0xAB || c == 0xAD || c == 0xB7 || c == 0xBB || c == 0xBF)
    return CharClass::Separator;  // NEL, no-break space, ¡ « soft hyphen · » ¿
  if (c < 0xC0 || c == 0xD7 || c == 0xF7) return CharClass::Ignored;  // C1 controls, Latin-1 symbols, × ÷
  if (c == 0x1680) return CharClass::Separator;                       // Ogham space
  if (c < 0x2000) return CharClass::Word;        // Latin, IPA, combining marks, Greek, Cyrillic, ... scripts
  if (c < 0x2070) return CharClass::Separator;   // general punctuation: spaces, dashes, quotes, ...
  if (c < 0x2C00) return CharClass::Ignored;     // super/subscripts, currency, arrows, math, shapes, dingbats
  if (c < 0x2E00) return CharClass::Word;        // Glagolitic, Coptic, Cyrillic Extended-A, ...
  if (c < 0x2E80) return CharClass::Separator;   // supplemental punctuation
  if (c < 0x3000) return CharClass::Word;        // CJK radicals
  if (c < 0x3040) return CharClass::Separator;   // CJK symbols and punctuation, ideographic space
  if (c < 0xE000) return CharClass::Word;        // kana, CJK, Hangul, ...
  if (c < 0xF900) return CharClass::Ignored;     // private use
  if (c < 0xFE00) return CharClass::Word;        // CJK compatibility, presentation forms
  if (c < 0xFE70) return CharClass::Separator;   // variation selectors, vertical and small forms
  if (c < 0xFEFF) return CharClass::Word;        // Arabic presentation forms
  if (c == 0xFEFF) return CharClass::Separator;  // zero-width no-break space (byte-order mark)
  if (c < 0xFFF0) {                              // half- and full-width forms
    if ((c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) || (c >= 0xFF41 && c <= 0xFF5A) ||
        (c >= 0xFF66 && c <= 0xFFDC))
      return CharClass::Word;
    return CharClass::Separator;
  }
  if (c < 0x10000) return CharClass::Ignored;  // specials (U+FFFD, ...)
  if (c < 0x1F000) return CharClass::Word;     // historic scripts, mathematical letters, ...
  if (c < 0x20000) return CharClass::Ignored;  // emoji and other pictographs
  if (c < 0x40000) return CharClass::Word;     // CJK extensions
  if (c >= 0xE0000 && c < 0xE0200) return CharClass::Separator;  // tags, variation selectors
  return CharClass::Ignored;                                     // private use planes
}

// An ignored character as it is shown in a warning: itself when printable, else U+XXXX or \xNN.
std::string shown(std::string_view text, size_t at, const CodePoint& cp) {
  if (!cp.valid) return printable(text.substr(at, 1));
  if (cp.value < 0x20 || cp.value == 0x7F || (cp.value >= 0x80 && cp.value < 0xA0))
    return code_point_name(cp.value);
  std::string q(1, '\'');  // (not "'" + ...: GCC 12 warns falsely, -Wrestrict)
  q.append(text.substr(at, static_cast<size_t>(cp.length)));
  q.push_back('\'');
  return q;
}

template <class T>
void add_once(std::vector<T>& list, const T& v) {
  if (std::find(list.begin(), list.end(), v) == list.end()) list.push_back(v);
}

}  // namespace

std::vector<std::string> split_words(std::string_view text, std::vector<std::string>& ignored_chars) {
  std::vector<std::string> words;
  std::string cur;
  for (size_t i = 0; i < text.size();) {
    const CodePoint cp = decode_utf8(text, i);
    switch (classify(cp.value, cp.valid)) {
      case CharClass::Word:
        if (const char32_t lower = to_lower(cp.value); lower != cp.value)
          cur.append(encode_utf8(lower));
        else
          cur.append(text.substr(i, static_cast<size_t>(cp.length)));
        break;
      case CharClass::Apostrophe:
        cur.push_back('\'');
        break;
      case CharClass::Ignored:
        add_once(ignored_chars, shown(text, i, cp));
        [[fallthrough]];  // an ignored character also ends a word
      case CharClass::Separator:
        if (!cur.empty()) words.push_back(std::move(cur));
        cur.clear();
        break;
    }
    i += static_cast<size_t>(cp.length);
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  // A word of apostrophes only (a stray quote mark) is punctuation, not a word.
  std::erase_if(words, [](const std::string& w) { return w.find_first_not_of('\'') == std::string::npos; });
  return words;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> ignored;
  return split_words(text, ignored);
}

Tokens tokenize(const Vocabulary& vocab, std::string_view text) {
  Tokens t;
  t.ids.fill(kPadId);
  t.ids[0] = kBosId;
  const std::vector<std::string> words = split_words(text, t.ignored_chars);
  t.words = static_cast<int64_t>(words.size());
  const size_t kept = std::min<size_t>(words.size(), kMaxCaptionWords);
  t.dropped_words = static_cast<int64_t>(words.size() - kept);
  for (size_t i = 0; i < kept; ++i) {
    const int32_t id = vocab.contains(words[i]) ? vocab.id(words[i]) : kUnkId;
    if (id == kUnkId &&
        std::find(t.unknown_words.begin(), t.unknown_words.end(), words[i]) == t.unknown_words.end())
      t.unknown_words.push_back(words[i]);
    t.ids[i + 1] = id;
  }
  return t;
}

bool Tokens::no_known_word() const {
  return std::all_of(ids.begin() + 1, ids.end(), [](int32_t id) { return id == kPadId || id == kUnkId; });
}

std::string Tokens::warning(std::string_view text) const {
  if (ok()) return "";
  std::string w = str_cat("caption '", printable(text), "':");
  if (!unknown_words.empty()) {
    w += " unknown words mapped to <unk>:";
    for (size_t i = 0; i < unknown_words.size(); ++i) {
      w.append(i ? ", '" : " '");
      w.append(unknown_words[i]);
      w.append("'");
    }
  }
  if (!ignored_chars.empty()) {
    if (!unknown_words.empty()) w += ";";
    w += " characters ignored:";
    for (size_t i = 0; i < ignored_chars.size(); ++i) w += (i ? ", " : " ") + ignored_chars[i];
  }
  if (dropped_words > 0) {
    if (!unknown_words.empty() || !ignored_chars.empty()) w += ";";
    w += str_cat(" ", dropped_words, " words past the first ", kMaxCaptionWords, " dropped");
  }
  return w;
}

std::string detokenize(const Vocabulary& vocab, const int32_t* ids, int64_t n) {
  std::string out;
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] == kPadId || ids[i] == kBosId) continue;
    if (!out.empty()) out += ' ';
    out += vocab.word(ids[i]);
  }
  return out;
}

TokenBatch tokenize_batch(const Vocabulary& vocab, const std::vector<std::string>& texts) {
  TokenBatch b;
  const auto n = static_cast<int64_t>(texts.size());
  b.ids = Tensor::zeros({n, kContextLength}, DType::I32);
  int32_t* out = b.ids.i32();
  for (int64_t i = 0; i < n; ++i) {
    Tokens t = tokenize(vocab, texts[i]);
    std::copy(t.ids.begin(), t.ids.end(), out + i * kContextLength);
    if (!t.ok()) b.warnings.push_back(t.warning(texts[i]));
  }
  return b;
}

void TokenReport::add(const Tokens& t) {
  ++captions_;
  if (t.ok()) return;
  ++captions_with_problems_;
  captions_with_unknown_ += !t.unknown_words.empty();
  cut_captions_ += t.dropped_words > 0;
  auto count = [](std::vector<std::pair<std::string, int64_t>>& list, const std::string& key) {
    for (auto& [k, n] : list)
      if (k == key) return void(++n);
    list.emplace_back(key, 1);
  };
  for (const auto& w : t.unknown_words) count(unknown_, w);
  for (const auto& c : t.ignored_chars) count(ignored_, c);
}

std::string TokenReport::warning(const std::string& what, size_t max_listed) const {
  if (ok()) return "";
  auto listing = [&](std::vector<std::pair<std::string, int64_t>> items, bool quote, const char* noun) {
    std::stable_sort(items.begin(), items.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::string s;
    for (size_t i = 0; i < items.size() && i < max_listed; ++i)
      s += str_cat(i ? ", " : " ", quote ? "'" : "", printable(items[i].first, 40), quote ? "'" : "", " (",
                   items[i].second, "x)");
    if (items.size() > max_listed) s += str_cat(" and ", items.size() - max_listed, " more ", noun);
    return s;
  };
  std::string w = what + ":";
  std::string sep;
  if (!unknown_.empty()) {
    w += str_cat(
        " ", captions_with_unknown_, " of ", captions_,
        " captions have words the vocabulary lacks (mapped to <unk>):", listing(unknown_, true, "words"));
    sep = ";";
  }
  if (!ignored_.empty()) {
    w += sep + " characters ignored:" + listing(ignored_, false, "characters");
    sep = ";";
  }
  if (cut_captions_ > 0)
    w += str_cat(sep, " ", cut_captions_, " captions have more than ", kMaxCaptionWords,
                 " words (the rest is dropped)");
  return w;
}

}  // namespace ld::data
