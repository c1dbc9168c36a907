"""Fixed runs for the report tests (golden Markdown, HTML in a browser).

Built in code with a fixed clock so the goldens never depend on the day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from linkwatch.models import CheckResult, Health, Hop, Link, RunSummary, Verdict

T0 = datetime(2025, 11, 14, 3, 0, 0, tzinfo=UTC)
EVIL_MD_TITLE = (
    "@octocat [click](https://evil.example) ![x](https://evil.example/a.png) "
    "<script>alert(1)</script>"
)
EVIL_HTML_TITLE = "<img src=x onerror=alert(1)><script>window.__pwned=1</script>"

BASICS = ("入门篇",)
APPS = ("应用篇",)
DEEP_31 = ("深入篇", "0x31 大模型技术基础方向")
DEEP_32 = ("深入篇", "0x32 大模型技术原理方向")
SECTIONS = [BASICS, APPS, DEEP_31, DEEP_32]


def result(
    title: str,
    url: str,
    section: tuple[str, ...],
    verdict: Verdict = Verdict.OK,
    *,
    reason: str = "http-200",
    detail: str = "The page answers.",
    status: int | None = 200,
    health: Health = Health.HEALTHY,
    must_read: bool = False,
    tags: frozenset[str] = frozenset(),
    elapsed_ms: int = 120,
    **extra: object,
) -> CheckResult:
    link = Link(url=url, title=title, section=section, tags=tags, must_read=must_read)
    return CheckResult(
        link=link,
        verdict=verdict,
        reason=reason,
        detail=detail,
        checked_at=T0,
        status_code=status,
        final_url=extra.pop("final_url", url),  # type: ignore[arg-type]
        elapsed_ms=elapsed_ms,
        health=health,
        **extra,  # type: ignore[arg-type]
    )


def sample_results(evil_title: str = EVIL_MD_TITLE) -> tuple[CheckResult, ...]:
    video = frozenset({"video"})
    return (
        result(
            "ChatGPT Prompt Engineering for Developers",
            "https://learn.deeplearning.ai/chatgpt-prompt-eng/lesson/1/introduction",
            BASICS,
            Verdict.MOVED,
            reason="moved-permanently",
            detail="The page moved permanently (301) to a new address.",
            redirects=(
                Hop("https://learn.deeplearning.ai/chatgpt-prompt-eng/lesson/1/introduction", 301),
            ),
            final_url="https://learn.deeplearning.ai/courses/chatgpt-prompt-eng",
            suggested_url="https://learn.deeplearning.ai/courses/chatgpt-prompt-eng",
            tags=frozenset({"course"}),
            elapsed_ms=340,
        ),
        result(
            "OpenAI Quickstart",
            "https://platform.openai.com/docs/quickstart",
            BASICS,
            Verdict.BLOCKED,
            reason="bot-challenge",
            detail="The site answered with a bot challenge (“Just a moment…”).",
            status=403,
            must_read=True,
            tags=frozenset({"docs"}),
        ),
        result(
            "State of GPT (video)",
            "https://www.youtube.com/watch?v=bZQun8Y4L2A",
            BASICS,
            must_read=True,
            tags=video,
            elapsed_ms=410,
        ),
        result("State of GPT (slides)", "https://karpathy.ai/stateofgpt.pdf", BASICS),
        result(
            "Deep Dive into LLMs like ChatGPT",
            "https://www.youtube.com/watch?v=7xTGNNLPyMI",
            BASICS,
            must_read=True,
            tags=video,
        ),
        result(
            "中英双语字幕",
            "https://b23.tv/vF2vS6t",
            BASICS,
            redirects=(Hop("https://b23.tv/vF2vS6t", 302),),
            final_url="https://www.bilibili.com/video/BV16m421u7Bq/",
            tags=video,
        ),
        result(
            "Building Systems with the ChatGPT API",
            "https://learn.deeplearning.ai/chatgpt-building-system/lesson/1/introduction",
            APPS,
            Verdict.BROKEN,
            reason="http-404",
            detail="The server says the page does not exist (404).",
            status=404,
            health=Health.ROTTEN,
            tags=frozenset({"course"}),
        ),
        result(
            "Langchain",
            "https://python.langchain.com/",
            APPS,
            changed=True,
            last_changed=T0 - timedelta(hours=3),
            diff="- LangChain v0.2 docs\n+ LangChain v0.3 docs\n  Build context-aware apps",
            tags=frozenset({"docs"}),
        ),
        result(
            "dify",
            "https://dify.ai/",
            APPS,
            Verdict.ERROR,
            reason="timeout",
            detail="No answer within 10 s.",
            status=None,
            health=Health.FAILING,
            attempts=3,
        ),
        result(
            "GPT best practices",
            "https://platform.openai.com/docs/guides/gpt-best-practices/gpt-best-practices",
            APPS,
            Verdict.BROKEN,
            reason="redirect-home",
            detail="The deep link now redirects to the site's home page.",
            health=Health.FAILING,
            redirects=(
                Hop(
                    "https://platform.openai.com/docs/guides/gpt-best-practices/gpt-best-practices",
                    302,
                ),
            ),
            final_url="https://platform.openai.com/",
        ),
        result(
            "openai-cookbook",
            "https://github.com/openai/openai-cookbook",
            APPS,
            tags=frozenset({"github"}),
        ),
        result(
            "Brex's Prompt Engineering Guide",
            "https://github.com/brexhq/prompt-engineering",
            APPS,
            archived=True,
            stale=True,
            tags=frozenset({"github"}),
        ),
        result(
            evil_title,
            "https://evil.example/page",
            APPS,
            Verdict.BROKEN,
            reason="soft-404-title",
            detail="Page title says “not found” | <b>bold</b> @here\nsecond line",
            health=Health.FAILING,
        ),
        result("《动手学深度学习》", "https://zh.d2l.ai/", DEEP_31, must_read=True),
        result("B站李沐的视频", "https://courses.d2l.ai/zh-v2/", DEEP_31),
        result(
            "深度学习：台湾大学李宏毅",
            "https://www.bilibili.com/video/BV1J94y1f7u5/",
            DEEP_31,
            health=Health.RECOVERED,
            tags=video,
        ),
        result(
            "3brown1blue 系列视频",
            "https://www.youtube.com/watch?v=wjZofJX0v4M",
            DEEP_31,
            health=Health.FLAKY,
            must_read=True,
            tags=video,
        ),
        result(
            "大语言模型综述",
            "https://github.com/RUCAIBox/LLMSurvey",
            DEEP_32,
            must_read=True,
            tags=frozenset({"github"}),
        ),
        result(
            "大语言模型",
            "https://github.com/LLMBook-zh/LLMBook-zh.github.io",
            DEEP_32,
            must_read=True,
            tags=frozenset({"github"}),
        ),
        result(
            "A link with a javascript: URL",
            "javascript:alert(document.domain)",
            DEEP_32,
            Verdict.ERROR,
            reason="unsupported-scheme",
            detail="Not an http(s) URL.",
            status=None,
            health=Health.FAILING,
        ),
    )


def sample_summary(evil_title: str = EVIL_MD_TITLE, *, inconclusive: bool = False) -> RunSummary:
    return RunSummary(
        started=T0,
        finished=T0 + timedelta(seconds=42.5),
        catalog="catalog.toml",
        results=sample_results(evil_title),
        inconclusive=inconclusive,
        inconclusive_reason="18 of 21 hosts unreachable at the network level"
        if inconclusive
        else "",
        bytes_received=123_456,
        bytes_saved=7_890,
    )


def sample_history() -> dict[str, list[Verdict]]:
    flaky = [Verdict.OK, Verdict.ERROR] * 15
    return {
        "https://learn.deeplearning.ai/chatgpt-building-system/lesson/1/introduction": (
            [Verdict.OK] * 25 + [Verdict.BROKEN] * 5
        ),
        "https://www.youtube.com/watch?v=wjZofJX0v4M": flaky,
        "https://zh.d2l.ai/": [Verdict.OK] * 40,
        "https://dify.ai/": [Verdict.OK, Verdict.OK, Verdict.ERROR],
    }
