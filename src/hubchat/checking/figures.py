"""Figures in a text (numbers with their unit, currency and scale, and dates) as values that can be compared.

"$2 billion" is 2e9 US dollars and "2 PB" is 2e15 bytes, so neither supports the other, while "15 cents" and
"$0.15", "40%" and "40 percent", "1.5 million" and "1,500,000", "7B" and "7 billion" are the same figure. A claim's
figure is supported by a passage figure of the same dimension and value (`supports`); see there for rounding,
bare numbers, ranges and rates.

Why a table and not a library: quantulum3 (0.10.0, the best-kept quantity extractor on PyPI) was tried on this
corpus's kind of text. It weighs 24 MB, takes 3 s to load its unit tables, and reads "128k tokens" as kelvin,
"70B parameters" as bytes, "15 cents per call" as "cent per calorie per litre" and "12 to 16 bytes" as one value,
14. price-parser reads one price per string, not the figures of a sentence. The units an answer about AI tools or
a scientific abstract uses fit in the tables below.

What is a figure: a number written with digits that is not part of a name or a version ("GPT-4", "Qwen2.5",
"IL-6", "v1.2", "2.1.3" are not), with what follows it; a number word only with a scale, percent or multiple after
it ("two billion", "ten percent", "threefold"; a lone "one" is too often no count). Passages also offer lone number
words ("five") as bare figures, so "5 patients" is supported by "five patients".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

# ---- tables ----------------------------------------------------------------------------------------------------

# Form -> (dimension, factor to the dimension's base unit). Forms of more than three letters match in any case;
# shorter ones as written ("mM" is millimolar, "mm" millimetres, "MB" megabytes).
_YEAR_S = 365.25 * 86400
UNITS: dict[str, tuple[str, float]] = {
    # shares and multiples
    "%": ("percent", 1), "percent": ("percent", 1), "per cent": ("percent", 1), "pct": ("percent", 1),
    "percentage points": ("points", 1), "percentage point": ("points", 1), "pp": ("points", 1),
    "times": ("multiple", 1), "fold": ("multiple", 1),
    # money (a currency after the number; symbols before it are in CURRENCY_PREFIXES)
    "dollars": ("currency:USD", 1), "dollar": ("currency:USD", 1), "USD": ("currency:USD", 1),
    "cents": ("currency:USD", 0.01), "cent": ("currency:USD", 0.01), "¢": ("currency:USD", 0.01),
    "euros": ("currency:EUR", 1), "euro": ("currency:EUR", 1), "EUR": ("currency:EUR", 1),
    "GBP": ("currency:GBP", 1), "pence": ("currency:GBP", 0.01), "yen": ("currency:JPY", 1), "JPY": ("currency:JPY", 1),
    "yuan": ("currency:CNY", 1), "CNY": ("currency:CNY", 1), "rupees": ("currency:INR", 1), "INR": ("currency:INR", 1),
    # data (decimal and binary prefixes), bit rates
    "bytes": ("data", 1), "byte": ("data", 1),
    **{f"{p}B": ("data", 1000.0**i) for i, p in enumerate(("k", "M", "G", "T", "P", "E"), 1)},
    "KB": ("data", 1e3),
    **{f"{p}iB": ("data", 1024.0**i) for i, p in enumerate(("K", "M", "G", "T", "P", "E"), 1)},
    **{f"{w}bytes": ("data", 1000.0**i) for i, w in enumerate(("kilo", "mega", "giga", "tera", "peta", "exa"), 1)},
    **{f"{w}byte": ("data", 1000.0**i) for i, w in enumerate(("kilo", "mega", "giga", "tera", "peta", "exa"), 1)},
    **{f"{p}bps": ("bitrate", 1000.0**i) for i, p in enumerate(("K", "M", "G", "T"), 1)},
    "kbps": ("bitrate", 1e3), "bps": ("bitrate", 1),
    # time
    "ns": ("time", 1e-9), "µs": ("time", 1e-6), "μs": ("time", 1e-6), "ms": ("time", 1e-3),
    "milliseconds": ("time", 1e-3), "millisecond": ("time", 1e-3),
    "s": ("time", 1), "sec": ("time", 1), "secs": ("time", 1), "seconds": ("time", 1), "second": ("time", 1),
    "min": ("time", 60), "mins": ("time", 60), "minutes": ("time", 60), "minute": ("time", 60),
    "h": ("time", 3600), "hr": ("time", 3600), "hrs": ("time", 3600), "hours": ("time", 3600), "hour": ("time", 3600),
    "days": ("time", 86400), "day": ("time", 86400), "weeks": ("time", 7 * 86400), "week": ("time", 7 * 86400),
    "months": ("time", _YEAR_S / 12), "month": ("time", _YEAR_S / 12),
    "years": ("time", _YEAR_S), "year": ("time", _YEAR_S), "yrs": ("time", _YEAR_S), "yr": ("time", _YEAR_S),
    # physical units of the scientific sets
    "ng": ("mass", 1e-9), "µg": ("mass", 1e-6), "μg": ("mass", 1e-6), "mcg": ("mass", 1e-6), "mg": ("mass", 1e-3),
    "g": ("mass", 1), "kg": ("mass", 1e3), "micrograms": ("mass", 1e-6), "milligrams": ("mass", 1e-3),
    "grams": ("mass", 1), "kilograms": ("mass", 1e3),
    "µl": ("volume", 1e-6), "μl": ("volume", 1e-6), "µL": ("volume", 1e-6), "μL": ("volume", 1e-6),
    "ml": ("volume", 1e-3), "mL": ("volume", 1e-3), "L": ("volume", 1), "litres": ("volume", 1), "liters": ("volume", 1),
    "nm": ("length", 1e-9), "µm": ("length", 1e-6), "μm": ("length", 1e-6), "mm": ("length", 1e-3),
    "cm": ("length", 1e-2), "km": ("length", 1e3), "metres": ("length", 1), "meters": ("length", 1),
    "pM": ("molar", 1e-12), "nM": ("molar", 1e-9), "µM": ("molar", 1e-6), "μM": ("molar", 1e-6), "mM": ("molar", 1e-3),
    "Hz": ("frequency", 1), "kHz": ("frequency", 1e3), "MHz": ("frequency", 1e6), "GHz": ("frequency", 1e9),
    "W": ("power", 1), "kW": ("power", 1e3), "MW": ("power", 1e6), "GW": ("power", 1e9),
    "Wh": ("energy", 1), "kWh": ("energy", 1e3), "MWh": ("energy", 1e6), "GWh": ("energy", 1e9),
    "°C": ("celsius", 1), "°F": ("fahrenheit", 1),
}
CURRENCY_PREFIXES = {"US$": "USD", "$": "USD", "USD": "USD", "€": "EUR", "EUR": "EUR", "£": "GBP", "GBP": "GBP",
                     "¥": "JPY", "₹": "INR", "A$": "AUD", "C$": "CAD"}
SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "mn": 1e6, "mln": 1e6, "bn": 1e9,
          "tn": 1e12}
# Written right after the digits only: "128k", "$5M", "70B" (a model's parameters; bytes are "GB", "TB"...).
GLUED_SCALES = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "m": 1e6}
# A rate's time unit: "$20/month", "$20 per user per month", "2 PB a year", "$240 annually".
PER_UNITS = {"s": "second", "sec": "second", "second": "second", "min": "minute", "minute": "minute", "h": "hour",
             "hr": "hour", "hour": "hour", "day": "day", "week": "week", "mo": "month", "month": "month",
             "quarter": "quarter", "yr": "year", "year": "year", "annum": "year"}
PER_WORDS = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter",
             "yearly": "year", "annually": "year"}
MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(), 1)}
MONTHS |= {m[:3]: i for m, i in list(MONTHS.items())} | {"sept": 9}
NUMBER_WORDS = {
    w: i for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split())
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
     "dozen": 12}

# ---- patterns --------------------------------------------------------------------------------------------------


def _alternation(forms) -> str:
    parts = []
    for form in sorted(forms, key=len, reverse=True):
        text = re.escape(form).replace(r"\ ", r"\s+")
        parts.append(f"(?i:{text})" if len(form) > 3 and form.isalpha() or " " in form else text)
    return "|".join(parts)


_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MONTH = r"(?P<{}>(?:" + "|".join(m.capitalize() for m in sorted(MONTHS, key=len, reverse=True)) + r")\.?)"
_DAY = r"(?P<{}>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<{}>1[5-9]\d\d|2[01]\d\d)"
_DATE = re.compile(
    "|".join((
        r"(?<![\w.,])" + _DAY.format("d1") + r"\s+(?:of\s+)?" + _MONTH.format("m1") + r"(?:,?\s+" + _YEAR.format("y1") + ")?",
        _MONTH.format("m2") + r"\s+" + _DAY.format("d2") + r"(?:,?\s+" + _YEAR.format("y2") + r")?(?![\d,.]\d)",
        _MONTH.format("m3") + r",?\s+" + _YEAR.format("y3"),
        r"(?<![\w.,-])" + _YEAR.format("y4") + r"-(?P<m4>[01]\d)-(?P<d4>[0-3]\d)",
    )) + r"(?![\w])"
)
_PER = (
    r"(?:\s*/\s*|\s+(?:per|a|an|each)\s+)(?:[a-z]+\s*(?:/\s*|\s+(?:per|a|an|each)\s+))?"
    r"(?P<per>" + _alternation(PER_UNITS) + r")s?(?![\w])|\s+(?P<perword>" + _alternation(PER_WORDS) + r")(?![\w])"
)
_NUMBER_WORD = r"(?i:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_AMOUNT = re.compile(
    # Not glued to a word, a decimal or a number ("Qwen2.5", "1.2.3"), nor after a name's hyphen ("GPT-4", "IL-6").
    r"(?<![\w.,/])(?<![A-Za-z]-)"
    r"(?:(?P<cur>" + _alternation(CURRENCY_PREFIXES) + r")\s?)?"
    r"(?P<num>" + _NUM + r")(?![.,]\d)"
    r"(?:(?P<gscale>" + _alternation(GLUED_SCALES) + r")(?![A-Za-z])|\s?(?P<scale>" + _alternation(SCALES) + r")(?![A-Za-z]))?"
    # "3x" only glued ("3 x 4" is a product); after a scale, letters may follow ("70B-parameter"), else they make
    # the digits part of a word ("3-kinase", "5G").
    r"(?:(?P<xunit>[x×])(?![A-Za-z0-9])|(?P<sep>[ \u00a0-]?)(?P<unit>" + _alternation(UNITS) + r")(?![A-Za-z0-9])"
    r"|(?(gscale)|(?(scale)|(?![A-Za-z]|-[A-Za-z]))))"
    r"(?:" + _PER + r")?"
)
_WORD_AMOUNT = re.compile(
    r"(?<![\w-])(?P<word>" + _NUMBER_WORD + r")"
    r"(?:(?P<fold>fold)|(?:\s+(?P<scale>" + _alternation(SCALES) + r"))?(?:\s+(?P<unit>" + _alternation(UNITS) + r"))?)"
    r"(?![\w])(?:" + _PER + r")?"
)
_LONE_WORD = re.compile(r"(?<![\w-])(?P<word>" + _NUMBER_WORD + r")(?![\w-])")
_RANGE_GAP = re.compile(r"\s*(?:-|–|—|to|and|or)\s*$", re.IGNORECASE)

# ---- figures ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure of a text.

    Attributes:
        text: as written, `source[start:end]`.
        number: the number as written, before scale and unit (2 for "2 PB"); for a date, 0.
        value: number x scale x the unit's factor, in the dimension's base unit (bytes, seconds, US dollars...).
        precision: the value of one in the written number's last digit (1e15 for "2 PB", 1e5 for "1.5 million"),
            so a claim may round what the passage states.
        dimension: "" for a bare count, else a key of the dimension ("data", "time", "percent", "currency:USD"...).
        scaled: a scale word or suffix was applied ("million", "k").
        per: a rate's time unit ("month" for "$20/month"), else "".
        date: (year, month, day) for a date, each None where not stated; None for an amount.
    """

    text: str
    start: int
    end: int
    number: float
    value: float
    precision: float
    dimension: str = ""
    scaled: bool = False
    per: str = ""
    date: tuple[int | None, int | None, int | None] | None = None


def _float(raw: str) -> tuple[float, int]:
    raw = raw.replace(",", "")
    return float(raw), len(raw.partition(".")[2])


def _unit(form: str | None) -> tuple[str, float]:
    if not form:
        return "", 1.0
    key = re.sub(r"\s+", " ", form)
    if key in UNITS:
        return UNITS[key]
    return UNITS.get(key.lower(), ("", 1.0))


def _per(m: re.Match) -> str:
    if m.group("per"):
        return PER_UNITS.get(m.group("per").lower(), m.group("per").lower())
    if m.group("perword"):
        return PER_WORDS[m.group("perword").lower()]
    return ""


def _date(m: re.Match) -> tuple[int | None, int | None, int | None]:
    g = m.groupdict()
    year = next((int(g[k]) for k in ("y1", "y2", "y3", "y4") if g.get(k)), None)
    month_raw = next((g[k] for k in ("m1", "m2", "m3", "m4") if g.get(k)), None)
    month = int(month_raw) if month_raw and month_raw.isdigit() else MONTHS.get(month_raw.rstrip(".").lower()) if month_raw else None
    day = next((int(g[k]) for k in ("d1", "d2", "d4") if g.get(k)), None)
    return year, month, day


@lru_cache(maxsize=4096)
def figures(text: str, *, lone_words: bool = False) -> tuple[Figure, ...]:
    """The figures of `text`, in order.

    Args:
        lone_words: also read lone number words ("five") as bare figures; passages offer them as evidence, claims
            do not make them figures to check.
    """
    found: list[Figure] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e in taken)

    for m in _DATE.finditer(text):
        year, month, day = _date(m)
        if day is not None and not 1 <= day <= 31 or month is None:
            continue
        found.append(Figure(m.group(), m.start(), m.end(), 0.0, 0.0, 0.0, "date", date=(year, month, day)))
        taken.append((m.start(), m.end()))
    for m in _AMOUNT.finditer(text):
        if not free(m.start(), m.end()):
            continue
        number, decimals = _float(m.group("num"))
        scale = SCALES.get((m.group("scale") or "").lower(), 1.0)
        glued = m.group("gscale")
        if glued == "m" and not m.group("cur"):  # "5m" is metres or minutes unless it is money: "$5m"
            glued = None
        scale *= GLUED_SCALES.get(glued or "", 1.0)
        dimension, factor = ("multiple", 1.0) if m.group("xunit") else _unit(m.group("unit"))
        if m.group("unit") in ("s",) and decimals == 0 and 1000 <= number <= 2999 and not m.group("sep"):
            dimension, factor = "", 1.0  # "the 1990s" is a decade, not seconds
        if m.group("cur"):
            dimension = f"currency:{CURRENCY_PREFIXES[m.group('cur').upper() if m.group('cur').isalpha() else m.group('cur')]}"
        value = number * scale * factor
        found.append(Figure(m.group().rstrip(), m.start(), m.start() + len(m.group().rstrip()), number, value,
                            10.0**-decimals * scale * factor, dimension, scale != 1.0, _per(m)))
        taken.append((m.start(), m.end()))
    for m in _WORD_AMOUNT.finditer(text):
        if not free(m.start(), m.end()) or not (m.group("fold") or m.group("scale") or m.group("unit")):
            continue
        number = float(NUMBER_WORDS[m.group("word").lower()])
        scale = SCALES.get((m.group("scale") or "").lower(), 1.0)
        dimension, factor = ("multiple", 1.0) if m.group("fold") else _unit(m.group("unit"))
        found.append(Figure(m.group(), m.start(), m.end(), number, number * scale * factor, scale * factor,
                            dimension, scale != 1.0, _per(m)))
        taken.append((m.start(), m.end()))
    if lone_words:
        for m in _LONE_WORD.finditer(text):
            if free(m.start(), m.end()):
                number = float(NUMBER_WORDS[m.group("word").lower()])
                found.append(Figure(m.group(), m.start(), m.end(), number, number, 1.0))
    found.sort(key=lambda f: f.start)
    return tuple(_spread_ranges(text, found))


def _spread_ranges(text: str, found: list[Figure]) -> list[Figure]:
    """"12 to 16 bytes", "$10-20 million": the range's end lends its unit and scale to its start, the start its
    currency to the end, so each end is a whole figure."""
    out = list(found)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if a.date or b.date or not _RANGE_GAP.fullmatch(text[a.end : b.start] or "-") or text[a.end : b.start] == "":
            continue
        if not a.dimension and not a.scaled and (b.dimension or b.scaled):
            factor = b.value / b.number if b.number else 1.0
            out[i] = Figure(a.text, a.start, a.end, a.number, a.number * factor, a.precision * factor, b.dimension,
                            b.scaled, b.per or a.per)
        elif a.dimension.startswith("currency:") and not b.dimension:
            scale = a.value / a.number if a.number and not b.scaled else 1.0
            out[i + 1] = Figure(b.text, b.start, b.end, b.number, b.value * scale, b.precision * scale, a.dimension,
                                b.scaled, b.per or a.per)
            if b.scaled and not a.scaled:  # "$10-20 million": the start is millions too
                factor = b.value / b.number if b.number else 1.0
                out[i] = Figure(a.text, a.start, a.end, a.number, a.value * factor, a.precision * factor,
                                a.dimension, True, a.per or b.per)
    return out


# ---- comparison ------------------------------------------------------------------------------------------------


def supports(evidence: Figure, claim: Figure) -> bool:
    """Whether a passage's figure states the claim's.

    - Dates: every part the claim states (year, month, day) is the passage date's; a bare year in the claim is
      also supported by a date of that year ("in 2025" by "2 February 2025").
    - Amounts: the same dimension and value; "$2 billion" is never "2 PB", "2 billion" never "2 PB" either.
      A bare claim number (no unit, no scale) is also supported by a passage figure written with that number
      ("the 2 providers" ... "2 PB"): the unit is then the claim's words' business, not the figure's.
    - Rounding: a claim may state a passage's value with fewer digits ("2.4 PB" supports "2 PB", "1,530,000" supports
      "1.5 million"), never with more, and never another value at its own precision ("12" does not support "10").
    - Rates: when both name one, the time unit is the same ("$20/month" does not support "$20/year").
    """
    if claim.date is not None:
        if evidence.date is None:
            return False
        return all(c is None or c == e for c, e in zip(claim.date, evidence.date))
    if evidence.date is not None:
        year = evidence.date[0]
        return not claim.dimension and not claim.scaled and claim.precision >= 1 and claim.value == year
    if claim.per and evidence.per and claim.per != evidence.per:
        return False
    if claim.dimension == evidence.dimension or not claim.dimension and not claim.scaled:
        if _same(claim.value, evidence.value, claim.precision, evidence.precision):
            return True
    if not claim.dimension and not claim.scaled:
        return _same(claim.value, evidence.number, claim.precision, 10.0 ** -_decimals(evidence))
    return False


def _decimals(figure: Figure) -> int:
    scale = figure.value / figure.number if figure.number else 1.0
    return max(0, round(-math.log10(figure.precision / scale))) if figure.precision and scale else 0


def _same(claim: float, evidence: float, claim_precision: float, evidence_precision: float) -> bool:
    if math.isclose(claim, evidence, rel_tol=1e-9, abs_tol=1e-12):
        return True
    # A rounding: the claim is coarser than the passage, and the passage's value rounds to it.
    return claim_precision > evidence_precision * (1 + 1e-9) and abs(claim - evidence) <= claim_precision / 2 * (1 + 1e-9)


def unmatched(claim: tuple[Figure, ...], evidence: tuple[Figure, ...]) -> tuple[Figure, ...]:
    """The claim's figures that no evidence figure supports."""
    return tuple(c for c in claim if not any(supports(e, c) for e in evidence))
