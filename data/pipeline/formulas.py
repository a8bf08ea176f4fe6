"""The project-wide Retail Media formulas; percentages are returned as 0-100 values."""

from __future__ import annotations


def acos(investimento: float, receita_anuncios: float) -> float:
    """ACOS % = investimento / receita dos anúncios × 100."""
    return investimento / receita_anuncios * 100


def roas(receita_anuncios: float, investimento: float) -> float:
    """ROAS = receita dos anúncios / investimento."""
    return receita_anuncios / investimento


def tacos(investimento: float, receita_total: float) -> float:
    """TACoS % = investimento / receita total × 100."""
    return investimento / receita_total * 100


def cpc(investimento: float, cliques: float) -> float:
    """CPC = investimento / cliques."""
    return investimento / cliques


def cpm(investimento: float, impressoes: float) -> float:
    """CPM = investimento / impressões × 1000."""
    return investimento / impressoes * 1000


def ctr(cliques: float, impressoes: float) -> float:
    """CTR % = cliques / impressões × 100."""
    return cliques / impressoes * 100


def conversao(pedidos: float, cliques: float) -> float:
    """Taxa de conversão % = pedidos / cliques × 100."""
    return pedidos / cliques * 100


def ticket_medio(receita: float, pedidos: float) -> float:
    """Ticket médio = receita / pedidos."""
    return receita / pedidos


def margem_contribuicao(preco: float, custos_variaveis: float) -> float:
    """Margem de contribuição % = (preço − custos variáveis) / preço × 100."""
    return (preco - custos_variaveis) / preco * 100


def acos_equilibrio(preco: float, custos_variaveis: float) -> float:
    """ACOS de equilíbrio % = margem de contribuição %."""
    return margem_contribuicao(preco, custos_variaveis)


def roi(receita: float, margem_pct: float, investimento: float) -> float:
    """ROI % = (receita × margem − investimento) / investimento × 100."""
    return (receita * margem_pct / 100 - investimento) / investimento * 100


def cpc_maximo(ticket: float, conversao_pct: float, acos_alvo_pct: float) -> float:
    """CPC máximo = ticket médio × conversão × ACOS alvo."""
    return ticket * (conversao_pct / 100) * (acos_alvo_pct / 100)


def ltv(ticket: float, compras_por_cliente: float) -> float:
    """LTV = ticket médio × compras por cliente."""
    return ticket * compras_por_cliente


def cac(investimento: float, novos_clientes: float) -> float:
    """CAC = investimento / novos clientes."""
    return investimento / novos_clientes
