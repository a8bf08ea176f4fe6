"""The exercise catalogue: question templates per metric, wired to samplers and solvers."""

from __future__ import annotations

from data.pipeline import exercise_profit as p
from data.pipeline import exercise_traffic as t
from data.pipeline.exercises import ExerciseSpec

_MONEY = (
    "investimento",
    "receita",
    "receita_anuncios",
    "receita_organica",
    "receita_total",
    "preco",
    "custos",
    "custo_produto",
    "frete",
    "ticket",
)
_PERCENT = ("comissao", "imposto", "margem", "conversao", "acos_alvo")


def _spec(key: str, article_id: str, templates: tuple[str, ...], sample, solve) -> ExerciseSpec:
    return ExerciseSpec(key, article_id, templates, sample, solve, _MONEY, _PERCENT)


_MARGIN_Q = (
    "Vendo um produto por {preco} e os custos variáveis somam {custos}. Qual é a minha margem "
    "de contribuição?",
    "Um item custa {custo_produto}, é vendido por {preco} {na_plataforma}, paga comissão de "
    "{comissao}, imposto de {imposto} e frete de {frete} por venda. Qual é a margem de "
    "contribuição?",
    "Calcule a margem de contribuição em porcentagem de um produto com preço de {preco} e "
    "custos variáveis de {custos}.",
    "Meu produto sai por {preco} e cada venda tem {custos} de custo variável (produto, "
    "comissão, frete e impostos). Quantos por cento sobram de margem?",
)
_BREAK_EVEN_Q = (
    "Vendo um produto por {preco} e tenho {custos} de custos variáveis por venda. Qual é o "
    "ACOS máximo antes de ter prejuízo?",
    "Qual é o ACOS de equilíbrio de um produto vendido a {preco} {na_plataforma}, com custo "
    "de {custo_produto}, comissão de {comissao}, imposto de {imposto} e frete de {frete}?",
    "Calcule o ACOS de equilíbrio (break-even) de um item com preço de {preco} e custos "
    "variáveis de {custos}.",
    "Meu produto custa {preco} para o cliente e tem {custos} em custos variáveis. Até que "
    "ACOS a campanha se paga?",
)

SPECS: tuple[ExerciseSpec, ...] = (
    _spec(
        "acos",
        "metricas-acos",
        (
            "Investi {investimento} em anúncios e vendi {receita} com eles. Qual é o meu ACOS?",
            "Minha campanha {na_plataforma} gastou {investimento} e gerou {receita} em vendas "
            "atribuídas. Qual foi o ACOS?",
            "Calcule o ACOS de uma campanha com investimento de {investimento} e receita de "
            "anúncios de {receita}.",
            "Se gastei {investimento} com anúncios patrocinados e eles faturaram {receita}, quanto "
            "deu o ACOS?",
        ),
        t.acos_sample,
        t.acos_solve,
    ),
    _spec(
        "roas",
        "metricas-roas",
        (
            "Investi {investimento} e os anúncios venderam {receita}. Qual é o meu ROAS?",
            "Qual o ROAS de uma campanha {na_plataforma} que gastou {investimento} e trouxe "
            "{receita} em vendas?",
            "Calcule o ROAS com investimento de {investimento} e receita atribuída de {receita}.",
            "Gastei {investimento} em anúncios e faturei {receita} com eles. Quanto voltou em "
            "vendas para cada real investido?",
        ),
        t.acos_sample,
        t.roas_solve,
    ),
    _spec(
        "tacos",
        "metricas-tacos",
        (
            "Investi {investimento} em anúncios no mês e a loja faturou {receita_total} no total. "
            "Qual é o TACoS?",
            "Minha loja {na_plataforma} vendeu {receita_anuncios} pelos anúncios e "
            "{receita_organica} em vendas orgânicas, com {investimento} de investimento em mídia. "
            "Qual é o meu TACoS?",
            "Calcule o TACoS: investimento em anúncios de {investimento} e receita total da loja "
            "de {receita_total}.",
            "Gastei {investimento} com anúncios; as vendas pelos anúncios foram {receita_anuncios} "
            "e as orgânicas {receita_organica}. Quanto dá o TACoS?",
        ),
        t.tacos_sample,
        t.tacos_solve,
    ),
    _spec(
        "cpc",
        "metricas-cpc",
        (
            "Gastei {investimento} e recebi {cliques} cliques. Qual foi o meu CPC?",
            "Uma campanha {na_plataforma} teve {cliques} cliques e custou {investimento}. Quanto "
            "paguei por clique?",
            "Calcule o CPC médio: investimento de {investimento} e {cliques} cliques.",
            "Qual é o custo por clique de uma campanha que investiu {investimento} e gerou "
            "{cliques} cliques?",
        ),
        t.cpc_sample,
        t.cpc_solve,
    ),
    _spec(
        "cpm",
        "metricas-cpm",
        (
            "Investi {investimento} e tive {impressoes} impressões. Qual é o CPM?",
            "Uma campanha de display {na_plataforma} custou {investimento} e entregou "
            "{impressoes} impressões. Quanto custou cada mil impressões?",
            "Calcule o CPM de uma campanha com {impressoes} impressões e investimento de "
            "{investimento}.",
            "Quanto paguei por mil impressões se gastei {investimento} para o anúncio aparecer "
            "{impressoes} vezes?",
        ),
        t.cpm_sample,
        t.cpm_solve,
    ),
    _spec(
        "ctr",
        "metricas-ctr",
        (
            "Meu anúncio teve {impressoes} impressões e {cliques} cliques. Qual é o CTR?",
            "Calcule a taxa de cliques de uma campanha {na_plataforma} com {cliques} cliques em "
            "{impressoes} impressões.",
            "Se o anúncio apareceu {impressoes} vezes e recebeu {cliques} cliques, qual foi a CTR?",
            "Qual a CTR de um produto anunciado com {impressoes} impressões e {cliques} cliques "
            "no período?",
        ),
        t.ctr_sample,
        t.ctr_solve,
    ),
    _spec(
        "conversao",
        "metricas-taxa-de-conversao",
        (
            "Tive {cliques} cliques e {pedidos} pedidos. Qual é a minha taxa de conversão?",
            "Uma campanha {na_plataforma} recebeu {cliques} cliques e gerou {pedidos} vendas. "
            "Qual foi a conversão?",
            "Calcule a taxa de conversão de um anúncio com {pedidos} pedidos em {cliques} cliques.",
            "De {cliques} cliques no anúncio saíram {pedidos} pedidos. Quanto é isso em taxa de "
            "conversão?",
        ),
        t.conv_sample,
        t.conv_solve,
    ),
    _spec(
        "ticket_medio",
        "metricas-ticket-medio",
        (
            "Vendi {receita} em {pedidos} pedidos. Qual é o meu ticket médio?",
            "Minha loja {na_plataforma} faturou {receita} com {pedidos} pedidos no mês. Qual foi "
            "o ticket médio?",
            "Calcule o ticket médio: receita de {receita} e {pedidos} pedidos.",
            "Qual o valor médio por pedido se a campanha gerou {pedidos} pedidos e {receita} de "
            "receita?",
        ),
        t.ticket_sample,
        t.ticket_solve,
    ),
    _spec(
        "margem",
        "metricas-margem-e-acos-de-equilibrio",
        _MARGIN_Q,
        p.margin_sample,
        lambda v: p.margin_solve(v, break_even=False),
    ),
    _spec(
        "acos_equilibrio",
        "metricas-margem-e-acos-de-equilibrio",
        _BREAK_EVEN_Q,
        p.margin_sample,
        lambda v: p.margin_solve(v, break_even=True),
    ),
    _spec(
        "roi",
        "metricas-roi",
        (
            "Investi {investimento} em anúncios, que geraram {receita} em vendas, e minha margem "
            "de contribuição é {margem}. Qual é o ROI?",
            "Calcule o ROI de uma campanha {na_plataforma}: receita de {receita}, margem de "
            "{margem} e investimento de {investimento}.",
            "Com margem de {margem}, uma campanha que custou {investimento} e vendeu {receita} "
            "deu lucro? Qual é o ROI?",
            "Qual o retorno sobre o investimento (ROI) de {investimento} em mídia que trouxe "
            "{receita} de receita, se a margem dos produtos é {margem}?",
        ),
        p.roi_sample,
        p.roi_solve,
    ),
    _spec(
        "cpc_maximo",
        "lances-lance-por-acos-alvo",
        (
            "Meu ticket médio é {ticket}, a conversão é {conversao} e quero ACOS de {acos_alvo}. "
            "Qual é o CPC máximo que posso pagar?",
            "Qual lance máximo devo usar {na_plataforma} para um produto de {ticket}, com taxa de "
            "conversão de {conversao} e ACOS alvo de {acos_alvo}?",
            "Calcule o CPC máximo: ticket médio de {ticket}, conversão de {conversao} e ACOS alvo "
            "de {acos_alvo}.",
            "Com ACOS alvo de {acos_alvo}, ticket de {ticket} e {conversao} de conversão, até "
            "quanto posso pagar por clique?",
        ),
        p.bid_sample,
        p.bid_solve,
    ),
    _spec(
        "ltv",
        "metricas-ltv",
        (
            "Meu ticket médio é {ticket} e cada cliente compra em média {compras} vezes. Qual é "
            "o LTV?",
            "Calcule o LTV de um cliente de uma loja {na_plataforma} com ticket médio de {ticket} "
            "e {compras} compras por cliente.",
            "Se o cliente faz {compras} compras ao longo do relacionamento e o ticket médio é "
            "{ticket}, quanto vale esse cliente (LTV)?",
            "Qual o valor do tempo de vida do cliente com ticket de {ticket} e média de {compras} "
            "pedidos por cliente?",
        ),
        p.ltv_sample,
        p.ltv_solve,
    ),
    _spec(
        "cac",
        "metricas-ltv",
        (
            "Investi {investimento} em anúncios e conquistei {novos_clientes} clientes novos. "
            "Qual é o meu CAC?",
            "Calcule o CAC de uma campanha {na_plataforma} com investimento de {investimento} e "
            "{novos_clientes} novos clientes.",
            "Quanto custou adquirir cada cliente se gastei {investimento} e ganhei "
            "{novos_clientes} clientes novos?",
            "Qual o custo de aquisição de cliente de uma ação que custou {investimento} e trouxe "
            "{novos_clientes} novos compradores?",
        ),
        p.cac_sample,
        p.cac_solve,
    ),
)

SPECS_BY_KEY: dict[str, ExerciseSpec] = {spec.key: spec for spec in SPECS}
