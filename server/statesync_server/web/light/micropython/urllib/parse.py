"""`urlsplit` / `urlunsplit` for MicroPython (statesync's light runtime)."""


class SplitResult:
    def __init__(self, scheme, netloc, path, query, fragment):
        self.scheme, self.netloc, self.path = scheme, netloc, path
        self.query, self.fragment = query, fragment

    def __iter__(self):
        return iter((self.scheme, self.netloc, self.path, self.query, self.fragment))

    def __getitem__(self, index):
        return tuple(self)[index]

    @property
    def hostname(self):
        host = self.netloc.rpartition("@")[2]
        if host.startswith("["):
            return host[1:host.find("]")].lower()
        return host.partition(":")[0].lower() or None

    @property
    def port(self):
        host = self.netloc.rpartition("@")[2]
        tail = host.rpartition("]")[2] if host.startswith("[") else host
        _, colon, port = tail.partition(":")
        return int(port) if colon and port else None

    def geturl(self):
        return urlunsplit(self)


def urlsplit(url, scheme=""):
    fragment = query = ""
    url, hash_, fragment = url.partition("#")
    url, question, query = url.partition("?")
    colon = url.find(":")
    if colon > 0 and url[:colon].replace("+", "").replace("-", "").replace(".", "").isalpha():
        scheme, url = url[:colon].lower(), url[colon + 1:]
    netloc = ""
    if url.startswith("//"):
        rest = url[2:]
        end = min((i for i in (rest.find("/"), len(rest)) if i >= 0))
        netloc, url = rest[:end], rest[end:]
    return SplitResult(scheme, netloc, url, query, fragment)


def urlunsplit(parts):
    scheme, netloc, path, query, fragment = tuple(parts)
    url = path
    if netloc or (scheme and not url.startswith("//")) and netloc:
        url = "//" + netloc + ("/" if url and not url.startswith("/") else "") + url
    elif netloc == "" and scheme in ("http", "https", "ws", "wss", "file"):
        url = "//" + url if not url.startswith("//") else url
    if scheme:
        url = scheme + ":" + url
    if query:
        url += "?" + query
    if fragment:
        url += "#" + fragment
    return url
