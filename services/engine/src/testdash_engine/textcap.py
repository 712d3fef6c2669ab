"""Cap text while it streams in: keep its head and tail, count what was cut.

A report can hold a single 1 GB ``system-out``; the parsers feed pieces of it
to a :class:`CappedText` as they arrive, so memory stays proportional to the cap.
"""

from __future__ import annotations

MARKER = "\n[... {} characters truncated by testdash ...]\n"


def cap_str(text: str, cap: int) -> tuple[str, int]:
    """Return ``text`` cut to ``cap`` characters (head, marker, tail) and the cut count."""
    if len(text) <= cap:
        return text, 0
    head = (cap + 1) // 2
    tail = cap - head
    cut = len(text) - cap
    return text[:head] + MARKER.format(cut) + (text[-tail:] if tail else ""), cut


class CappedText:
    """Accumulates text pieces, keeping at most ``cap`` characters (head and tail)."""

    __slots__ = ("_head", "_head_cap", "_head_len", "_tail", "_tail_cap", "_tail_len", "total")

    def __init__(self, cap: int) -> None:
        self._head_cap = (cap + 1) // 2
        self._tail_cap = cap - self._head_cap
        self._head: list[str] = []
        self._head_len = 0
        self._tail: list[str] = []
        self._tail_len = 0
        self.total = 0

    def add(self, piece: str) -> None:
        """Append a piece of text."""
        self.total += len(piece)
        room = self._head_cap - self._head_len
        if room > 0:
            if len(piece) <= room:
                self._head.append(piece)
                self._head_len += len(piece)
                return
            self._head.append(piece[:room])
            self._head_len += room
            piece = piece[room:]
        if not self._tail_cap:
            return
        self._tail.append(piece)
        self._tail_len += len(piece)
        # Compact only when the tail holds twice its cap: amortised linear time.
        if self._tail_len > 2 * self._tail_cap:
            joined = "".join(self._tail)[-self._tail_cap :]
            self._tail = [joined]
            self._tail_len = len(joined)

    def result(self) -> tuple[str, int]:
        """Return the kept text (with a truncation marker if cut) and the cut count."""
        head = "".join(self._head)
        kept = self._head_len + min(self._tail_len, self._tail_cap)
        cut = self.total - kept
        if cut <= 0:
            return head + "".join(self._tail), 0
        tail = "".join(self._tail)[-self._tail_cap :] if self._tail_cap else ""
        return head + MARKER.format(cut) + tail, cut
