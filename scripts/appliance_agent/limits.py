"""Checks every property value passes before its own parser, and safe error messages.

The form's qualifiers (MaxLen, MinValue...) are what vCenter enforces; the
agent enforces them too, since an environment can be written by hand or by a
script. Control characters never belong in a form value: XML attributes turn
typed line breaks and tabs into blanks, so one in a value was put there
deliberately (&#10;) and would end a line of a config file.
"""

import re
import unicodedata

SHOWN_CHARACTERS = 40  # of a value quoted in a message
MESSAGE_CHARACTERS = 400

_QUALIFIER = re.compile(r"(MinLen|MaxLen|MinValue|MaxValue)\((\d+)\)")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_CHARACTER_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", "\0": "a NUL"}


def declared(qualifiers):
    """{"MaxLen": 63, ...} from an OVF qualifier string like 'MinLen(1),MaxLen(63)'."""
    return dict((name, int(number)) for name, number in _QUALIFIER.findall(qualifiers or ""))


def is_control(character):
    """C0/C1 controls, DEL, lone surrogates and the Unicode line/paragraph separators."""
    return unicodedata.category(character) in ("Cc", "Cs", "Zl", "Zp")


def check_text(text, qualifiers):
    """Raise ValueError when `text` has a control character or is longer than MaxLen."""
    maximum = declared(qualifiers).get("MaxLen")
    if maximum is not None and len(text) > maximum:
        raise ValueError("is %d characters long; the form allows at most %d" % (len(text), maximum))
    for position, character in enumerate(text, 1):
        if is_control(character):
            name = _CHARACTER_NAMES.get(character, "a control character")
            raise ValueError(
                "contains %s (U+%04X) at character %d; enter the value on one line, without control characters"
                % (name, ord(character), position)
            )


def check_number(number, qualifiers):
    """MinValue/MaxValue of the form on a parsed integer."""
    limits = declared(qualifiers)
    if "MinValue" in limits and number < limits["MinValue"] or "MaxValue" in limits and number > limits["MaxValue"]:
        raise ValueError("%d is out of range; enter %d to %d" % (number, limits.get("MinValue", 0), limits.get("MaxValue", 0)))


def shorten(text, limit=SHOWN_CHARACTERS):
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return "%s... (%d characters)" % (text[:limit], len(text))


def printable(text, limit=64):
    """A string from outside made safe for one log line: escaped and cut."""
    escaped = "".join(c if c.isprintable() else "\\x%02x" % ord(c) if ord(c) < 256 else "\\u%04x" % ord(c) for c in text)
    return shorten(escaped, limit)


def _shorten_quoted(quoted):
    if len(quoted) <= SHOWN_CHARACTERS:
        return quoted
    return "%s...%s (%d characters)" % (quoted[:SHOWN_CHARACTERS], quoted[0], len(quoted) - 2)


def safe_message(message, value, secret):
    """A parser's message made fit for the console: no password, no 10 kB quote, one line."""
    if secret and value:
        message = _QUOTED.sub(lambda match: "(hidden)" if value in match.group(0) or repr(value)[1:-1] in match.group(0) else match.group(0), message)
        if len(value) >= 6:
            message = message.replace(value, "(hidden)")
    message = _QUOTED.sub(lambda match: _shorten_quoted(match.group(0)), message)
    message = "".join(" " if is_control(c) else c for c in message)
    return shorten(message, MESSAGE_CHARACTERS)
