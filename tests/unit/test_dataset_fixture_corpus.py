"""A tiny fixture corpus and benchmark for the dataset tests, plus loader tests on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.pipeline.benchmark import BenchmarkError, read_benchmark
from data.pipeline.corpus import CorpusError, parse_article, read_corpus, read_manifest

ARTICLES: dict[str, tuple[str, str, str, list[tuple[str, str, str]]]] = {
    "metricas-acos": (
        "metricas",
        "basico",
        "ACOS: quanto da receita vai para a mídia",
        [
            (
                "concept",
                "O que é ACOS?",
                "ACOS é a porcentagem da receita dos anúncios gasta com a "
                "mídia. A fórmula é investimento dividido pela receita atribuída, vezes 100.",
            ),
            (
                "how-to",
                "Como calcular o ACOS de uma campanha?",
                "Divida o investimento do período "
                "pela receita atribuída aos anúncios no mesmo período e multiplique por 100.",
            ),
            (
                "concept",
                "ACOS mais baixo é sempre melhor?",
                "Não necessariamente. Um ACOS muito baixo "
                "pode indicar que você investe pouco e deixa vendas na mesa.",
            ),
            (
                "strategy",
                "Qual é um bom ACOS para vender em marketplace?",
                "Depende da margem de cada "
                "produto: o ACOS de equilíbrio é igual à margem de contribuição.",
            ),
            (
                "comparison",
                "Qual a diferença entre ACOS e ROAS?",
                "As duas usam os mesmos dados invertidos: ACOS é investimento sobre receita "
                "e ROAS é receita sobre investimento.",
            ),
            (
                "troubleshooting",
                "Meu ACOS subiu de repente. O que devo verificar primeiro?",
                "Veja se "
                "o CPC subiu, se a conversão caiu ou se o ticket médio diminuiu no período.",
            ),
            (
                "how-to",
                "Como reduzir o ACOS sem matar as vendas?",
                "Reduza lances em termos com "
                "muitos cliques e poucas vendas e negative buscas irrelevantes.",
            ),
            (
                "strategy",
                "Devo usar o mesmo ACOS alvo para todos os produtos?",
                "Não é recomendável, "
                "porque produtos com margens diferentes têm equilíbrios diferentes.",
            ),
        ],
    ),
    "metricas-roas": (
        "metricas",
        "basico",
        "ROAS: retorno sobre o investimento em anúncios",
        [
            (
                "concept",
                "O que significa ROAS?",
                "ROAS é a receita dos anúncios dividida pelo "
                "investimento. Um ROAS de 4 quer dizer R$ 4,00 em vendas para cada real investido.",
            ),
            (
                "how-to",
                "Como se calcula o retorno sobre gasto com publicidade?",
                "Some a receita "
                "atribuída no período e divida pelo valor gasto com mídia no mesmo período.",
            ),
            (
                "concept",
                "ROAS alto garante lucro na loja?",
                "Não. O ROAS ignora custos do produto, "
                "comissão e frete; é preciso comparar com a margem de contribuição.",
            ),
            (
                "strategy",
                "Que ROAS mínimo devo buscar nos meus anúncios?",
                "O mínimo é o ROAS de "
                "equilíbrio, igual a 100 dividido pela margem de contribuição em porcentagem.",
            ),
            (
                "comparison",
                "ROAS ou TACoS: qual acompanhar no dia a dia?",
                "Os dois: o ROAS mostra a "
                "eficiência da mídia e o TACoS mostra o peso dela sobre toda a receita da loja.",
            ),
            (
                "troubleshooting",
                "Por que o ROAS da Amazon difere do meu relatório interno?",
                "A "
                "plataforma usa janela de atribuição própria e pode contar vendas de outros itens.",
            ),
            (
                "how-to",
                "Como aumentar o retorno das campanhas patrocinadas?",
                "Concentre verba nos "
                "termos que convertem, melhore fotos e preço e corte palavras sem vendas.",
            ),
            (
                "strategy",
                "Vale aceitar retorno baixo durante um lançamento?",
                "Por algumas semanas "
                "sim, para ganhar vendas e avaliações, com prazo e limite de gasto definidos.",
            ),
        ],
    ),
    "palavras-negativas": (
        "palavras_chave",
        "intermediario",
        "Palavras-chave negativas",
        [
            (
                "concept",
                "Para que servem palavras-chave negativas?",
                "Elas impedem que o anúncio "
                "apareça em buscas irrelevantes, economizando cliques que não viram venda.",
            ),
            (
                "how-to",
                "Onde encontro termos para negativar?",
                "No relatório de termos de pesquisa: "
                "procure buscas com cliques e nenhuma venda ou sem relação com o produto.",
            ),
            (
                "comparison",
                "Negativa exata ou de frase: quando usar cada uma?",
                "A exata bloqueia só "
                "aquela busca; a de frase bloqueia qualquer busca que contenha a expressão.",
            ),
            (
                "troubleshooting",
                "Negativei demais e as impressões sumiram. E agora?",
                "Revise a lista "
                "e remova negativas amplas que bloqueiam buscas relevantes para o produto.",
            ),
            (
                "strategy",
                "Com que frequência revisar a lista de negativas?",
                "Semanalmente em campanhas novas e a cada quinze dias nas campanhas estáveis.",
            ),
            (
                "concept",
                "Negativar marca concorrente é uma boa prática?",
                "Depende: se essas buscas "
                "convertem mal, negativar economiza verba; se convertem bem, mantenha.",
            ),
            (
                "how-to",
                "Como negativar no Mercado Livre Ads?",
                "Na campanha, abra a seção de "
                "palavras-chave negativas e adicione os termos que não quer atingir.",
            ),
            (
                "troubleshooting",
                "Mesmo com negativas aparecem buscas estranhas. Por quê?",
                "A correspondência ampla ainda alcança variações; confira grafias e sinônimos.",
            ),
        ],
    ),
    "problemas-acos-alto": (
        "troubleshooting",
        "intermediario",
        "ACOS alto: diagnóstico",
        [
            (
                "troubleshooting",
                "Meu ACOS está alto em todas as campanhas. Por onde começo?",
                "Separe por produto e veja quais concentram gasto sem vendas antes de cortar tudo.",
            ),
            (
                "how-to",
                "Como descobrir qual produto puxa o ACOS para cima?",
                "Ordene o relatório por gasto e compare o ACOS de cada item com a margem dele.",
            ),
            (
                "concept",
                "Frete caro pode aumentar o ACOS?",
                "Sim. Frete caro derruba a conversão, e "
                "com menos pedidos para o mesmo gasto o ACOS sobe.",
            ),
            (
                "strategy",
                "Vale pausar a campanha quando o ACOS dispara?",
                "Raramente. Prefira ajustar "
                "lances e termos; pausar zera o histórico e a relevância.",
            ),
            (
                "comparison",
                "ACOS alto por CPC ou por conversão: como diferenciar?",
                "Se o custo por "
                "clique subiu com conversão estável, é leilão; se a conversão caiu, é o anúncio.",
            ),
            (
                "troubleshooting",
                "A concorrência entrou forte e meu custo disparou. O que fazer?",
                "Foque nos termos de cauda longa e melhore a página para compensar com conversão.",
            ),
            (
                "how-to",
                "Como ajustar lances para baixar o ACOS?",
                "Reduza o lance dos termos acima do "
                "ACOS alvo em passos de 10% a 20% e acompanhe por uma semana.",
            ),
            (
                "strategy",
                "Devo aceitar ACOS alto em produtos de entrada?",
                "Pode valer a pena se eles "
                "trazem clientes que voltam e compram itens de margem maior.",
            ),
        ],
    ),
}

BODY = """# {title}

Este artigo explica {title_lower} para quem anuncia no Mercado Livre, na Amazon e na Shopee.

## A fórmula

`ACOS = investimento em anúncios / receita atribuída aos anúncios × 100`. Use o mesmo período
para investimento e receita.

## Exemplos práticos

Uma loja investiu R$ 500,00 e vendeu R$ 2.000,00 pelos anúncios: ACOS de 25%.

## Cuidados

Compare sempre com a margem de contribuição do produto e com o TACoS da loja.
"""


def article_text(article_id: str) -> str:
    """Return the Markdown file text of one fixture article."""
    category, difficulty, title, faq = ARTICLES[article_id]
    lines = [
        "---",
        f"id: {article_id}",
        f'title: "{title}"',
        f"category: {category}",
        f"difficulty: {difficulty}",
        "tags: [teste]",
        "faq:",
    ]
    for kind, q, a in faq:
        lines += [
            f"  - type: {kind}",
            f"    q: {json.dumps(q, ensure_ascii=False)}",
            f"    a: {json.dumps(a, ensure_ascii=False)}",
        ]
    lines.append("---")
    return "\n".join(lines) + "\n\n" + BODY.format(title=title, title_lower=title.lower())


def write_corpus(root: Path) -> Path:
    """Write the fixture corpus (4 articles + a manifest) under root/corpus."""
    corpus = root / "corpus"
    rows = ["| id | category | difficulty | subject |", "|---|---|---|---|"]
    for article_id, (category, difficulty, title, _) in ARTICLES.items():
        (corpus / category).mkdir(parents=True, exist_ok=True)
        (corpus / category / f"{article_id}.md").write_text(article_text(article_id), "utf-8")
        rows.append(f"| {article_id} | {category} | {difficulty} | {title} |")
    (corpus / "MANIFEST.md").write_text("# Manifest\n\n" + "\n".join(rows) + "\n", "utf-8")
    return corpus


BENCHMARK = [
    {
        "id": "bench-001",
        "question": "Qual a diferença entre ACOS e ROAS?",
        "reference_answer": "ACOS é investimento sobre receita; ROAS é o inverso.",
        "category": "metricas",
        "difficulty": "basico",
        "keywords": ["acos", "roas"],
        "article_id": "metricas-acos",
        "question_type": "comparison",
    },
    {
        "id": "bench-002",
        "question": "Como escolher palavras-chave negativas numa campanha nova?",
        "reference_answer": "Use o relatório de termos e negative buscas sem vendas.",
        "category": "palavras_chave",
        "difficulty": "intermediario",
        "keywords": ["negativas"],
        "article_id": "palavras-negativas",
        "question_type": "how-to",
    },
]


def write_benchmark(root: Path, items: list[dict] | None = None) -> Path:
    """Write the fixture benchmark under root/benchmark."""
    directory = root / "benchmark"
    directory.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(i, ensure_ascii=False) for i in (items or BENCHMARK)]
    (directory / "fixture.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    return directory


def test_fixture_corpus_parses(tmp_path: Path) -> None:
    articles = read_corpus(write_corpus(tmp_path))
    assert [a.id for a in articles] == sorted(ARTICLES)
    acos = articles[0]
    assert acos.category == "metricas" and len(acos.faq) == 8
    assert acos.faq[0].q == "O que é ACOS?" and len(acos.content_hash) == 64
    assert "## A fórmula" in acos.body and acos.path.name == "metricas-acos.md"
    assert read_manifest(tmp_path / "corpus")["palavras-negativas"] == (
        "palavras_chave",
        "intermediario",
    )


def test_article_with_wrong_id_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "metricas" / "metricas-cpc.md"
    path.parent.mkdir()
    path.write_text(article_text("metricas-acos"), "utf-8")
    with pytest.raises(CorpusError, match="id"):
        parse_article(path)


def test_benchmark_merges_and_rejects_duplicates(tmp_path: Path) -> None:
    directory = write_benchmark(tmp_path)
    assert [b.id for b in read_benchmark(directory)] == ["bench-001", "bench-002"]
    (directory / "z.jsonl").write_text(json.dumps(BENCHMARK[0]) + "\n", "utf-8")
    with pytest.raises(BenchmarkError, match="duplicate id"):
        read_benchmark(directory)
