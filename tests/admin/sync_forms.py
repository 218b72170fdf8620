"""Reading the confirmation form of the "Preview sync" page, as a browser would post it."""

import re
from html import unescape

HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([\w-]+)" value="([^"]*)">')


def confirm_form(response) -> dict[str, list[str]]:
    """Return the fields the preview's confirmation form posts (fails if it has none)."""
    html = response.content.decode()
    assert 'id="confirm-sync"' in html, "the preview offers no confirmation"
    form = html.split('id="confirm-sync"', 1)[1].split("</form>", 1)[0]
    fields: dict[str, list[str]] = {}
    for name, value in HIDDEN_INPUT.findall(form):
        if name != "csrfmiddlewaretoken":
            fields.setdefault(name, []).append(unescape(value))
    return fields


def preview_and_confirm(client, url: str, **kwargs):
    """GET the preview at ``url``, then post its confirmation there; return the answer."""
    preview = client.get(url)
    assert preview.status_code == 200
    return client.post(url, confirm_form(preview), **kwargs)
