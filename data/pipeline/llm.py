"""Optional paraphrases from an OpenAI-compatible endpoint (MELANCIA_DATASET_LLM_URL)."""

from __future__ import annotations

import json
import logging
import os

import httpx

logger = logging.getLogger(__name__)

URL_ENV = "MELANCIA_DATASET_LLM_URL"
MODEL_ENV = "MELANCIA_DATASET_LLM_MODEL"
KEY_ENV = "MELANCIA_DATASET_LLM_API_KEY"
_PROMPT = (
    "Reescreva a pergunta abaixo de {n} formas diferentes, em português do Brasil, como um "
    "vendedor de marketplace perguntaria, mantendo exatamente o mesmo sentido e todos os "
    "números. Responda só com uma lista JSON de strings.\n\nPergunta: {q}"
)


class Paraphraser:
    """Asks the endpoint for paraphrases; disabled (returns nothing) when no URL is set."""

    def __init__(
        self,
        url: str | None = None,
        *,
        model: str | None = None,
        client: httpx.Client | None = None,
        seed: int = 42,
    ) -> None:
        self.url = url if url is not None else os.environ.get(URL_ENV, "")
        self.model = model or os.environ.get(MODEL_ENV, "default")
        self.seed = seed
        self._client = client
        self._failed = False

    @property
    def enabled(self) -> bool:
        """Return True when an endpoint is configured and has not failed."""
        return bool(self.url) and not self._failed

    def _endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else f"{url}/chat/completions"

    def paraphrase(self, question: str, n: int) -> list[str]:
        """Return up to n paraphrases, or [] when disabled or on any endpoint error."""
        if not self.enabled or n <= 0:
            return []
        headers = (
            {"Authorization": f"Bearer {os.environ[KEY_ENV]}"} if KEY_ENV in os.environ else {}
        )
        body = {
            "model": self.model,
            "temperature": 0,
            "seed": self.seed,
            "messages": [{"role": "user", "content": _PROMPT.format(n=n, q=question)}],
        }
        client = self._client or httpx.Client(timeout=60)
        try:
            response = client.post(self._endpoint(), json=body, headers=headers)
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
            items = json.loads(content[content.index("[") : content.rindex("]") + 1])
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            # One failure turns the feature off so a dead endpoint does not stall the build.
            logger.warning("LLM paraphrasing disabled after error: %s", exc)
            self._failed = True
            return []
        finally:
            if self._client is None:
                client.close()
        return [s.strip() for s in items if isinstance(s, str) and s.strip()][:n]
