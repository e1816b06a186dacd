"""The vLLM recipes API over HTTP: the network edge of `runwayc recipe`.

Every URL comes from `compiler.core.recipes` (checked before a request is built); redirects are
refused rather than followed (a redirect could leave the origin); bodies are read as a stream
and dropped the moment they pass the limit, Content-Length or not; the whole request, not
each read, is bounded in time (`io.deadline`: headers included), so a server dripping one
byte a second still ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from compiler.core import recipes
from compiler.core.diagnostics import shown
from compiler.core.errors import (
    LoadError,
    RecipeTimeoutError,
    RecipeTooLargeError,
    RecipeUpstreamError,
    RecipeValidationError,
)
from compiler.core.load import load_json
from compiler.io.deadline import deadline, expired, keep_deadlines


@dataclass(frozen=True, slots=True)
class Fetched:
    """A recipe-API document: the path it was asked by, the exact bytes, parsed JSON."""

    path: str
    url: str
    content: bytes
    data: Any


class RecipeClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = recipes.TIMEOUT_SECONDS,
        max_bytes: int = recipes.MAX_BODY_BYTES,
        user_agent: str = "runwayc",
    ) -> None:
        self.base_url = recipes.check_base_url(base_url)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._http = keep_deadlines(
            httpx.Client(
                timeout=httpx.Timeout(timeout),
                follow_redirects=False,
                headers={"Accept": "application/json", "User-Agent": user_agent},
            )
        )

    def __enter__(self) -> RecipeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- the API ------------------------------------------------------------------------------

    def models(self) -> list[recipes.ModelEntry]:
        fetched = self.get("/models.json")
        return recipes.parse_models(fetched.data, fetched.url)

    def recipe(self, model_id: str) -> tuple[recipes.Recipe, Fetched]:
        fetched = self.get(recipes.recipe_path(model_id))
        return recipes.parse_recipe(fetched.data, fetched.url), fetched

    def rendering(
        self, model_id: str, selection: recipes.Selection
    ) -> tuple[recipes.Recipe, list[Fetched]]:
        """The recipe rendering `selection` needs, and every document fetched on the way."""
        recipe, first = self.recipe(model_id)
        fetched = [first]

        def load(path: str) -> tuple[Any, str]:
            document = self.get(path)
            fetched.append(document)
            return document.data, document.url

        return recipes.walk_renderings(recipe, selection, load), fetched

    # --- one bounded request --------------------------------------------------------------------

    def get(self, path: str) -> Fetched:
        url = recipes.document_url(self.base_url, path)
        content = self._read(url)
        try:
            data = load_json(content, url)
        except LoadError as exc:
            raise RecipeUpstreamError(exc.message, exc.diagnostics) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecipeUpstreamError(f"{url} did not answer JSON: {exc}") from None
        return Fetched(path, url, content, data)

    def _read(self, url: str) -> bytes:
        with deadline(self.timeout):
            try:
                return self._read_within(url)
            except httpx.TimeoutException:
                if expired():
                    raise RecipeTimeoutError(
                        f"{url} did not finish within {self.timeout:g} s"
                    ) from None
                raise RecipeTimeoutError(
                    f"{url} did not answer within {self.timeout:g} s"
                ) from None
            except httpx.InvalidURL as exc:  # not an HTTPError: httpx refused to build it
                raise RecipeValidationError(
                    f'"{shown(url)}" is not a URL httpx can request: {exc}'
                ) from None

    def _read_within(self, url: str) -> bytes:
        try:
            with self._http.stream("GET", url) as response:
                if response.is_redirect:
                    where = response.headers.get("location", "?")[:200]
                    raise RecipeUpstreamError(f"{url} redirected to {where}; not followed")
                if response.status_code != 200:
                    raise RecipeUpstreamError(f"{url} answered HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise RecipeTooLargeError(self._too_large(url))
                return b"".join(self._bounded(response.iter_bytes(), url))
        except httpx.TimeoutException:
            raise
        except httpx.HTTPError as exc:
            raise RecipeUpstreamError(f"{url} failed: {exc}") from None

    def _bounded(self, chunks: Iterator[bytes], url: str) -> Iterator[bytes]:
        # Decoded bytes are counted, so a compressed body cannot inflate past the limit.
        total = 0
        for chunk in chunks:
            total += len(chunk)
            if total > self.max_bytes:
                raise RecipeTooLargeError(self._too_large(url))
            yield chunk

    def _too_large(self, url: str) -> str:
        return f"{url} sent more than {self.max_bytes} bytes; stopped reading"
