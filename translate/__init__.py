"""Offline Hindi↔English translation with a BiGRU encoder and an attentional LSTM decoder."""

__version__ = "0.1.0"
