"""The network: bidirectional GRU encoder, bridge, and an LSTM decoder with Luong attention after the LSTM.

Teacher-forced training runs the decoder LSTM once over the whole target sequence and computes attention for all
positions in one batched matmul; decoding uses the same weights one step at a time through `Seq2Seq.step`.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from translate.config import PAD_ID, ModelConfig


@dataclass(frozen=True)
class Encoded:
    """Encoder memory for attention. enc_out (B, S, 2*He), keys (B, S, Hd), src_mask (B, S) True = real token."""

    enc_out: Tensor
    keys: Tensor
    src_mask: Tensor

    def select(self, index: Tensor) -> "Encoded":
        """Rows `index` of the batch (for beam expansion and reordering)."""
        return Encoded(self.enc_out[index], self.keys[index], self.src_mask[index])


@dataclass(frozen=True)
class DecoderState:
    """LSTM state h, c (L, B, Hd) and the last attentional vector feed (B, O), used with input feeding."""

    h: Tensor
    c: Tensor
    feed: Tensor

    def select(self, index: Tensor) -> "DecoderState":
        """Rows `index` of the batch (beam reordering)."""
        return DecoderState(self.h[:, index], self.c[:, index], self.feed[index])


class Encoder(nn.Module):
    """Embeddings → multi-layer bidirectional GRU over packed sequences."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.src_vocab, cfg.emb_dim, padding_idx=PAD_ID)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = nn.GRU(cfg.emb_dim, cfg.enc_hidden, num_layers=cfg.enc_layers, batch_first=True,
                          bidirectional=True, dropout=cfg.dropout if cfg.enc_layers > 1 else 0.0)

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S), src_len (B,) → enc_out (B, S, 2*He), final (B, 2*He): last layer's forward ⊕ backward."""
        emb = self.drop(self.embed(src))
        packed = pack_padded_sequence(emb, src_len.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = self.rnn(packed)
        enc_out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        final = torch.cat([h_n[-2], h_n[-1]], dim=-1)
        return self.drop(enc_out), final


class Seq2Seq(nn.Module):
    """Encoder, bridge and attentional decoder; `forward` is teacher-forced, `step` decodes one token."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.tie_embeddings and cfg.out_dim != cfg.emb_dim:
            raise ValueError("tie_embeddings needs out_dim == emb_dim")
        self.cfg = cfg
        enc_dim, hd, layers = 2 * cfg.enc_hidden, cfg.dec_hidden, cfg.dec_layers
        self.encoder = Encoder(cfg)
        self.bridge_h = nn.Linear(enc_dim, layers * hd)
        self.bridge_c = nn.Linear(enc_dim, layers * hd)
        self.tgt_embed = nn.Embedding(cfg.tgt_vocab, cfg.emb_dim, padding_idx=PAD_ID)
        feed_dim = cfg.out_dim if cfg.input_feeding else 0
        self.lstm = nn.LSTM(cfg.emb_dim + feed_dim, hd, num_layers=layers, batch_first=True,
                            dropout=cfg.dropout if layers > 1 else 0.0)
        self.attn_key = nn.Linear(enc_dim, hd, bias=False)  # Luong "general" score: h_t · W enc_s
        self.combine = nn.Linear(hd + enc_dim, cfg.out_dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.out_dim, cfg.tgt_vocab)
        if cfg.tie_embeddings:
            self.out.weight = self.tgt_embed.weight

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Encoded, DecoderState]:
        """src (B, S) → attention memory and the decoder's initial state bridged from the final GRU states."""
        enc_out, final = self.encoder(src, src_len)
        batch, layers, hd = src.size(0), self.cfg.dec_layers, self.cfg.dec_hidden
        h = torch.tanh(self.bridge_h(final)).view(batch, layers, hd).transpose(0, 1).contiguous()
        c = self.bridge_c(final).view(batch, layers, hd).transpose(0, 1).contiguous()
        feed = enc_out.new_zeros(batch, self.cfg.out_dim)
        src_mask = src != PAD_ID
        return Encoded(enc_out, self.attn_key(enc_out), src_mask), DecoderState(h, c, feed)

    def attend(self, dec_out: Tensor, enc: Encoded) -> tuple[Tensor, Tensor]:
        """dec_out (B, T, Hd) → attentional states (B, T, O) and attention weights (B, T, S); padding gets 0."""
        scores = torch.bmm(dec_out, enc.keys.transpose(1, 2))
        scores = scores.masked_fill(~enc.src_mask.unsqueeze(1), float("-inf"))
        attn = torch.softmax(scores, dim=-1)
        context = torch.bmm(attn, enc.enc_out)
        return torch.tanh(self.combine(torch.cat([dec_out, context], dim=-1))), attn

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits (B, T, V) for decoder inputs tgt_in (B, T) that start with BOS."""
        enc, state = self.encode(src, src_len)
        if self.cfg.input_feeding:
            return self._forward_fed(tgt_in, enc, state)
        emb = self.drop(self.tgt_embed(tgt_in))
        dec_out, _ = self.lstm(emb, (state.h, state.c))
        hidden, _ = self.attend(dec_out, enc)
        return self.out(self.drop(hidden))

    def _forward_fed(self, tgt_in: Tensor, enc: Encoded, state: DecoderState) -> Tensor:
        """Input feeding makes each step depend on the previous attentional state: a loop over time."""
        logits = []
        for t in range(tgt_in.size(1)):
            step_logits, state, _ = self.step(tgt_in[:, t], state, enc)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    def step(self, prev: Tensor, state: DecoderState, enc: Encoded) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoder step: prev (B,) token ids → logits (B, V), next state, attention (B, S)."""
        emb = self.drop(self.tgt_embed(prev)).unsqueeze(1)
        if self.cfg.input_feeding:
            emb = torch.cat([emb, state.feed.unsqueeze(1)], dim=-1)
        dec_out, (h, c) = self.lstm(emb, (state.h, state.c))
        hidden, attn = self.attend(dec_out, enc)
        logits = self.out(self.drop(hidden)).squeeze(1)
        return logits, DecoderState(h, c, hidden.squeeze(1)), attn.squeeze(1)


def count_parameters(model: nn.Module) -> int:
    """Number of distinct trainable parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
