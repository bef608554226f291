"""The papers whose claims ufm checks, each citable outside this repository (authors, title, year, arXiv id)."""

from __future__ import annotations

from typing import NamedTuple


class Paper(NamedTuple):
    authors: str
    title: str
    venue: str
    year: int
    arxiv: str

    @property
    def short(self) -> str:
        """'Zhou et al. 2022 (arXiv 2203.01238)'; 'Tirer and Bruna 2022 (arXiv 2202.08087)' for two authors."""
        names = [a.split()[-1] for a in self.authors.split(", ")]
        who = f"{names[0]} and {names[1]}" if len(names) == 2 else f"{names[0]} et al."
        return f"{who} {self.year} (arXiv {self.arxiv})"

    @property
    def citation(self) -> str:
        return f"{self.authors}. {self.title}. {self.venue} {self.year}. arXiv {self.arxiv}."


PAPERS = {
    "2105.02375": Paper("Zhihui Zhu, Tianyu Ding, Jinxin Zhou, Xiao Li, Chong You, Jeremias Sulam, Qing Qu",
                        "A Geometric Analysis of Neural Collapse with Unconstrained Features", "NeurIPS", 2021,
                        "2105.02375"),
    "2203.01238": Paper("Jinxin Zhou, Xiao Li, Tianyu Ding, Chong You, Qing Qu, Zhihui Zhu",
                        "On the Optimization Landscape of Neural Collapse under MSE Loss: Global Optimality with "
                        "Unconstrained Features", "ICML", 2022, "2203.01238"),
    "2210.02192": Paper("Jinxin Zhou, Chong You, Xiao Li, Kangning Liu, Sheng Liu, Qing Qu, Zhihui Zhu",
                        "Are All Losses Created Equal: A Neural Collapse Perspective", "NeurIPS", 2022, "2210.02192"),
    "2402.03979": Paper("Li Guo, George Andriopoulos, Zifan Zhao, Zixuan Dong, Shuyang Ling, Keith Ross",
                        "Cross Entropy versus Label Smoothing: A Neural Collapse Perspective", "TMLR", 2025,
                        "2402.03979"),
    # Beyond the balanced UFM (class imbalance).
    "2101.12699": Paper("Cong Fang, Hangfeng He, Qi Long, Weijie J. Su",
                        "Exploring Deep Neural Networks via Layer-Peeled Model: Minority Collapse in Imbalanced "
                        "Training", "PNAS", 2021, "2101.12699"),
    "2208.05512": Paper("Christos Thrampoulidis, Ganesh R. Kini, Vala Vakilian, Tina Behnia",
                        "Imbalance Trouble: Revisiting Neural-Collapse Geometry", "NeurIPS", 2022, "2208.05512"),
    "2301.00437": Paper("Hien Dang, Tho Tran, Stanley Osher, Hung Tran-The, Nhat Ho, Tan Nguyen",
                        "Neural Collapse in Deep Linear Networks: From Balanced to Imbalanced Data", "ICML", 2023,
                        "2301.00437"),
    "2309.09725": Paper("Wanli Hong, Shuyang Ling",
                        "Neural Collapse for Unconstrained Feature Model under Cross-entropy Loss with Imbalanced "
                        "Data", "arXiv preprint", 2023, "2309.09725"),
    # The deep UFM.
    "2202.08087": Paper("Tom Tirer, Joan Bruna", "Extended Unconstrained Features Model for Exploring Deep Neural "
                        "Collapse", "ICML", 2022, "2202.08087"),
    "2305.13165": Paper("Peter Súkeník, Marco Mondelli, Christoph H. Lampert", "Deep Neural Collapse Is Provably "
                        "Optimal for the Deep Unconstrained Features Model", "NeurIPS", 2023, "2305.13165"),
    "2405.14468": Paper("Peter Súkeník, Christoph H. Lampert, Marco Mondelli", "Neural Collapse versus Low-rank "
                        "Bias: Is Deep Neural Collapse Really Optimal?", "NeurIPS", 2024, "2405.14468"),
    "2410.23169": Paper("Connall Garrod, Jonathan P. Keating", "The Persistence of Neural Collapse Despite Low-Rank "
                        "Bias: An Analytic Perspective Through Unconstrained Features", "arXiv preprint", 2024,
                        "2410.23169"),
}


def references(text: str) -> list[str]:
    """The full citations of the papers whose arXiv id appears in `text`, in PAPERS order."""
    return [p.citation for key, p in PAPERS.items() if key in text]


__all__ = ["Paper", "PAPERS", "references"]
