"""A User-Agent header in plain words: "Firefox on Windows", "Safari on iPhone".

Only to tell a person's sessions apart on the Account page, so a rough answer is fine:
a few well-known names, checked in an order that reads each header the way it means
(Edge and Opera also say "Chrome", Chrome also says "Safari", Android also says "Linux").
"""

# (text in the header, browser name), first match wins.
BROWSERS = [
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
]
SYSTEMS = [
    ("Windows", "Windows"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
]
UNKNOWN = "Unknown browser"


def describe(user_agent: str) -> str:
    """``Firefox on Windows``; a program's own name for anything else (``curl``)."""
    browser = next((name for text, name in BROWSERS if text in user_agent), None)
    system = next((name for text, name in SYSTEMS if text in user_agent), None)
    if browser is None:
        product = user_agent.split("/", 1)[0].split(" ", 1)[0].strip()
        # Every browser starts with "Mozilla/5.0": it names none of them.
        browser = product[:40] if product and product != "Mozilla" else UNKNOWN
    return f"{browser} on {system}" if system else browser
