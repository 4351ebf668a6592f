// SMS text facts in the browser, as core/sms.py counts them (GSM 03.38): encoding,
// parts and the units left in the last part; placeholders as dispatcher/template.py fills them.
"use strict";
const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
);
const GSM7_EXTENDED = new Set("^{}\\[~]|€\f");
const SMS_LIMITS = { GSM7: [160, 153], UCS2: [70, 67] };
// --gsm-safe: look-alikes and their GSM-7 equivalents (core/sms.py LOOKALIKES)
const LOOKALIKES = {
  "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
  "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
  "\u00ab": '"', "\u00bb": '"',
  "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
  "\u2015": "-", "\u2212": "-", "\u2026": "...",
  "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2007": " ", "\u2009": " ",
  "\u200a": " ", "\u202f": " ", "\u3000": " ", "\t": " ",
  "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
  "\u02c6": "^", "\u02dc": "~", "\u2022": "-",
};

const isGsm = (ch) => GSM7_BASIC.has(ch) || GSM7_EXTENDED.has(ch);

// {encoding, units, parts, remaining, notGsm}: how one message text travels.
function smsSplit(text) {
  const chars = Array.from(text); // code points: an emoji is one, two UTF-16 units
  const gsm = chars.every(isGsm);
  const encoding = gsm ? "GSM7" : "UCS2";
  const cost = (ch) => (gsm ? (GSM7_EXTENDED.has(ch) ? 2 : 1) : ch.codePointAt(0) > 0xffff ? 2 : 1);
  const units = chars.reduce((sum, ch) => sum + cost(ch), 0);
  const [single, multi] = SMS_LIMITS[encoding];
  const notGsm = [...new Set(chars.filter((ch) => !isGsm(ch)))];
  if (units <= single) return { encoding, units, parts: 1, remaining: single - units, notGsm };
  let parts = 1, used = 0;
  for (const ch of chars) { // a two-unit character never straddles two parts
    const c = cost(ch);
    if (used + c > multi) { parts += 1; used = 0; }
    used += c;
  }
  return { encoding, units, parts, remaining: multi - used, notGsm };
}

// --gsm-safe: the text with look-alikes replaced when that makes it GSM-7, else as it is.
function gsmSafe(text) {
  const chars = Array.from(text);
  if (chars.every(isGsm) || !chars.every((ch) => isGsm(ch) || ch in LOOKALIKES)) return text;
  return chars.map((ch) => (ch in LOOKALIKES ? LOOKALIKES[ch] : ch)).join("");
}

// A tracked link's stand-in in the preview, as long as a short link (dispatcher.links: 13
// characters after /l/) on this page's origin; the plan counts SMS_LINK_BASE's.
function shortLinkPreview() {
  return `${location.origin}/l/${"x".repeat(13)}`;
}

// The text with every http(s) URL a tracked link (--track-links), sentence ends kept.
function trackedUrls(text) {
  return text.replace(/https?:\/\/[^\s<>"{}|\\^`]+/gi, (url) => {
    const tail = url.match(/[.,;:!?)\]'"]+$/);
    return shortLinkPreview() + (tail ? tail[0] : "");
  });
}

// The text with {placeholders} filled from one row: {text, error}; {link:URL} a short link.
function fillTemplate(template, header, fields) {
  const columns = new Map(header.map((h, i) => [h.trim().toLowerCase(), i]));
  let error = "";
  const text = template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (m, name) => {
    if (name === undefined) return m[0];
    if (/^\s*link:/i.test(name)) return shortLinkPreview();
    const i = columns.get(name.trim().toLowerCase());
    if (i === undefined) {
      error ||= `unknown placeholder {${name}}; columns are: ${header.map((h) => h.trim()).join(", ")}`;
      return m;
    }
    return fields[i] ?? "";
  });
  return { text, error };
}
