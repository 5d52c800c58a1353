"""On one GPU: two ranks (gloo, both on cuda:0) through gan_core.engine.distributed.Ranks with SyncBatchNorm (DCGAN G and D,
BatchNorm in both) take the step of one process with the whole batch; and the DDP buffer-broadcast pitfall."""
import os, sys, torch, torch.distributed as dist, torch.multiprocessing as mp
sys.path.insert(0, os.getcwd())
from gan_core.engine import distributed
from gan_core.engine.algorithm import discriminator_step, generator_step
from gan_core.engine.models import DCGenerator, DCDiscriminator, init_weights

def nets():
    torch.manual_seed(0)
    G, D = DCGenerator(8, 1, 16, 8), DCDiscriminator(1, 16, 8)
    G.apply(init_weights); D.apply(init_weights)
    return G.cuda(), D.cuda()

def worker(rank, port, out, batches):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    d = distributed.Ranks(torch.device("cuda", 0))
    G, D = nets()
    gG, gD = d.wrap(G, D)
    od, og = torch.optim.Adam(D.parameters(), 1e-2), torch.optim.Adam(G.parameters(), 1e-2)
    x, z, z2 = (b.cuda() for b in batches)
    res = {"sync_bn": type(G.project[1]).__name__}
    try:
        discriminator_step(G, gD, od, d.part(x), d.part(z))
        generator_step(gG, D, og, d.part(z2), "nonsaturating")
        res.update(G={k: v.cpu() for k, v in G.state_dict().items()}, D={k: v.cpu() for k, v in D.state_dict().items()})
    except Exception as e:
        res["error"] = repr(e)[:300]
    # the pitfall: buffers broadcast before each forward, BatchNorm in D, two forwards in one step
    G2, D2 = nets()
    kw = {"forward_sync_buffers": True} if "forward_sync_buffers" in distributed.NO_FORWARD_BUFFER_SYNC else {"broadcast_buffers": True}
    pD = torch.nn.parallel.DistributedDataParallel(D2, device_ids=[0], **kw)
    try:
        discriminator_step(G2, pD, torch.optim.Adam(D2.parameters()), d.part(x), d.part(z))
        res["pitfall"] = "no error"
    except Exception as e:
        res["pitfall"] = repr(e)[:200]
    torch.save(res, f"{out}/r{rank}.pt")
    dist.destroy_process_group()

if __name__ == "__main__":
    out = sys.argv[1]
    g = torch.Generator().manual_seed(1)
    m = 32
    batches = (torch.rand(m, 1, 16, 16, generator=g) * 2 - 1, torch.randn(m, 8, generator=g), torch.randn(m, 8, generator=g))
    mp.spawn(worker, args=(29731, out, batches), nprocs=2)
    G, D = nets()
    od, og = torch.optim.Adam(D.parameters(), 1e-2), torch.optim.Adam(G.parameters(), 1e-2)
    x, z, z2 = (b.cuda() for b in batches)
    discriminator_step(G, D, od, x, z); generator_step(G, D, og, z2, "nonsaturating")
    r0, r1 = torch.load(f"{out}/r0.pt"), torch.load(f"{out}/r1.pt")
    print("SyncBN module:", r0["sync_bn"], "| pitfall (buffers broadcast per forward):", r0["pitfall"])
    if "error" in r0:
        print("2-rank step error:", r0["error"]); sys.exit(1)
    worst = 0.0
    for net, ref in (("G", G), ("D", D)):
        for k, v in ref.state_dict().items():
            if v.dtype.is_floating_point:
                worst = max(worst, (r0[net][k] - v.cpu()).abs().max().item())
                assert torch.equal(r0[net][k], r1[net][k]), k
    print(f"2 ranks x m/2 vs 1 process x m, BatchNorm (SyncBN) in G and D: largest difference {worst:.2e}")
