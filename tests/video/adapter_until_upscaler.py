import numpy as np, torch
class TorchAdapter:
    def __init__(self, model): self.model=model.eval(); self.scale=model.scale
    @torch.inference_mode()
    def run(self, bgr):
        x=torch.from_numpy(np.ascontiguousarray(bgr[...,::-1].transpose(2,0,1))).float().div(255)[None]
        y=self.model(x)[0].clamp(0,1).mul(255).round().byte().permute(1,2,0).numpy()
        return np.ascontiguousarray(y[...,::-1])
