#!/usr/bin/python3
"""Writes the small ONNX graphs the tests use (test/fixtures/*.onnx). Not run in CI: the
outputs are committed. Run with Debian's Python and python3-onnx (1.12) + python3-numpy:

    /usr/bin/python3 tools/make_onnx_fixtures.py

1. Exact Gaussian-mixture networks (MATH.md §7). Each graph computes, in float32, the exact
   score of p_t = sum_j pi_j N(alpha_t m_j, alpha_t^2 Sigma_j + sigma_t^2 I) for the mixture
   in test/fixtures/gmm.json, with Sigma_j = U_j diag(lambda_j) U_j^T factorised once here
   (float64, stored as float32), then converts it to what a trained network would output:

     gmm-eps-step.onnx   epsilon = -sigma s;  time input: int64 step n [batch], DDPM linear
                          K = 1000, n means alpha-bar_{n+1} (a table gathered by n)
     gmm-x0-sigma.onnx   x0 = (z + sigma^2 s) / alpha;  time input: float32 sigma [batch, 1],
                          VP (alpha = sqrt(1 - sigma^2))
     gmm-v-t.onnx        v = alpha eps - sigma x0;  time input: float32 scalar t, OU
                          (alpha = e^-t, sigma^2 = 1 - e^-2t)
     gmm-score-t16.onnx  the score itself;  time input: float32 t [16], OU, a FIXED batch of 16
                          rows (tests padding and splitting)

   Each carries condiff.* metadata (the defaults OnnxScore reads).
   gmm-cond-score.onnx the exact class-conditional score of the mixture GUIDED of
                        test/support/guidance-cases.ts (docs/MATH.md §12): class c in {0, 1}
                        the sub-mixture of its components, class 2 (the null class) the whole
                        mixture; inputs x [batch, 2], t float32 [batch] (OU), label int64 [batch];
                        metadata condiff.class_input = label, condiff.null_class = 2
2. Tiny graphs for the adapter's validation errors (y = x * t, no metadata).

Arguments, if any, name the fixtures to write (the others are left as they are):

    /usr/bin/python3 tools/make_onnx_fixtures.py gmm-cond-score
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures')
K = 1000


def ddpm_linear_tables():
    """Like lib/schedules.ts: beta_k = 1e-4 + (0.02 - 1e-4)(k - 1)/(K - 1), log alpha-bar_k by log1p."""
    k = np.arange(1, K + 1, dtype=np.float64)
    beta = 1e-4 + (0.02 - 1e-4) * (k - 1) / (K - 1)
    log_ab = np.cumsum(np.log1p(-beta))  # log alpha-bar_k, k = 1..K (index n = k - 1)
    return np.exp(0.5 * log_ab), -np.expm1(log_ab)  # alpha_k, sigma^2_k


def const(name, array, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def gmm_nodes(spec, nodes, inits, z='z', alpha='alpha', sigma2='sigma2', out='score'):
    """Appends nodes computing the mixture score. z: [N, D]; alpha, sigma2: [N, 1]."""
    w = np.asarray(spec['weights'], np.float64)
    m = np.asarray(spec['means'], np.float64)
    J, D = m.shape
    if 'covariances' in spec:
        cov = np.asarray(spec['covariances'], np.float64)
    else:
        cov = np.stack([np.diag(v) for v in np.asarray(spec['variances'], np.float64)])
    lam, U = np.linalg.eigh(cov)  # cov_j = U_j diag(lam_j) U_j^T
    inits += [
        const('g_means', m[:, None, :]),                        # [J, 1, D]
        const('g_U', U),                                        # [J, D, D]
        const('g_Ut', np.transpose(U, (0, 2, 1))),              # [J, D, D]
        const('g_lam', lam[:, None, :]),                        # [J, 1, D]
        const('g_logw', np.log(w / w.sum())[:, None]),          # [J, 1]
        const('g_half', -0.5), const('g_neg1', -1.0),
        const('g_ax0', [0], np.int64), const('g_ax2', [2], np.int64),
    ]
    nodes += [
        helper.make_node('Mul', [alpha, alpha], ['g_a2']),                      # [N, 1]
        helper.make_node('Mul', ['g_means', alpha], ['g_am']),                   # [J, N, D] (broadcast [J,1,D]*[N,1])
        helper.make_node('Sub', [z, 'g_am'], ['g_diff']),                        # [J, N, D]
        helper.make_node('MatMul', ['g_diff', 'g_U'], ['g_y']),                  # U^T (z - alpha m), as rows
        helper.make_node('Mul', ['g_lam', 'g_a2'], ['g_la2']),                   # [J, N, D]
        helper.make_node('Add', ['g_la2', sigma2], ['g_d']),                     # alpha^2 lambda + sigma^2
        helper.make_node('Div', ['g_y', 'g_d'], ['g_wy']),
        helper.make_node('Mul', ['g_y', 'g_wy'], ['g_q']),
        helper.make_node('ReduceSum', ['g_q', 'g_ax2'], ['g_quad'], keepdims=0),        # [J, N]
        helper.make_node('Log', ['g_d'], ['g_logd']),
        helper.make_node('ReduceSum', ['g_logd', 'g_ax2'], ['g_logdet'], keepdims=0),   # [J, N]
        helper.make_node('Add', ['g_quad', 'g_logdet'], ['g_s1']),
        helper.make_node('Mul', ['g_s1', 'g_half'], ['g_s2']),
        helper.make_node('Add', ['g_s2', 'g_logw'], ['g_logit']),                # [J, N]
        helper.make_node('Softmax', ['g_logit'], ['g_r'], axis=0),               # responsibilities
        helper.make_node('MatMul', ['g_wy', 'g_Ut'], ['g_back']),                # C^-1 (z - alpha m), [J, N, D]
        helper.make_node('Unsqueeze', ['g_r', 'g_ax0'], ['g_r3x']),              # [1, J, N]
        helper.make_node('Transpose', ['g_r3x'], ['g_r3'], perm=[1, 2, 0]),      # [J, N, 1]
        helper.make_node('Mul', ['g_r3', 'g_back'], ['g_rb']),
        helper.make_node('ReduceSum', ['g_rb', 'g_ax0'], ['g_sum'], keepdims=0),        # [N, D]
        helper.make_node('Mul', ['g_sum', 'g_neg1'], [out]),
    ]
    return D


def gmm_nodes_prefixed(spec, nodes, inits, prefix, **names):
    """gmm_nodes with its internal names g_* renamed prefix*, so several mixtures share a graph."""
    n2, i2 = [], []
    D = gmm_nodes(spec, n2, i2, **names)
    ren = lambda s: prefix + s[2:] if s.startswith('g_') else s
    for node in n2:
        ins, outs = [ren(x) for x in node.input], [ren(x) for x in node.output]
        del node.input[:]
        node.input.extend(ins)
        del node.output[:]
        node.output.extend(outs)
    for t in i2:
        t.name = ren(t.name)
    nodes += n2
    inits += i2
    return D


def finish(nodes, inits, inputs, outputs, meta, name, doc):
    if len(sys.argv) > 1 and name not in sys.argv[1:]:
        return
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)], producer_name='condiff tools/make_onnx_fixtures.py')
    model.ir_version = 7  # onnx 1.12 default is 8; 7 is enough for opset 13
    model.doc_string = doc
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model)
    path = os.path.join(OUT, name + '.onnx')
    onnx.save(model, path)
    print(f'wrote {path} ({os.path.getsize(path)} bytes)')


def convert(nodes, inits, kind, out):
    """score -> epsilon / x0 / v, with z, alpha, sigma (= sqrt sigma2), sigma2 in scope."""
    if kind == 'score':
        nodes.append(helper.make_node('Identity', ['score'], [out]))
        return
    inits.append(const('c_neg1', -1.0))
    nodes += [
        helper.make_node('Sqrt', ['sigma2'], ['sigma']),
        helper.make_node('Mul', ['score', 'sigma'], ['c_ss']),
        helper.make_node('Mul', ['c_ss', 'c_neg1'], ['eps']),                   # eps = -sigma s
        helper.make_node('Mul', ['score', 'sigma2'], ['c_s2']),
        helper.make_node('Add', ['z', 'c_s2'], ['c_num']),
        helper.make_node('Div', ['c_num', 'alpha'], ['x0']),                    # Tweedie
    ]
    if kind == 'epsilon':
        nodes.append(helper.make_node('Identity', ['eps'], [out]))
    elif kind == 'x0':
        nodes.append(helper.make_node('Identity', ['x0'], [out]))
    else:  # v = alpha eps - sigma x0
        nodes += [
            helper.make_node('Mul', ['alpha', 'eps'], ['c_ae']),
            helper.make_node('Mul', ['sigma', 'x0'], ['c_sx']),
            helper.make_node('Sub', ['c_ae', 'c_sx'], [out]),
        ]


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, 'gmm.json')) as f:
        spec = json.load(f)
    D = len(spec['means'][0])
    f32 = TensorProto.FLOAT
    doc = 'Exact score of the Gaussian mixture in test/fixtures/gmm.json (MATH.md §7), float32; condiff test fixture.'

    # 1. epsilon, int64 step n [batch], DDPM linear K = 1000, n -> alpha-bar_{n+1}.
    nodes, inits = [], []
    a_tab, s2_tab = ddpm_linear_tables()
    inits += [const('alpha_table', a_tab), const('sigma2_table', s2_tab), const('ax1', [1], np.int64)]
    nodes += [
        helper.make_node('Identity', ['x'], ['z']),
        helper.make_node('Gather', ['alpha_table', 'step'], ['alpha_n'], axis=0),   # [N]
        helper.make_node('Gather', ['sigma2_table', 'step'], ['sigma2_n'], axis=0),
        helper.make_node('Unsqueeze', ['alpha_n', 'ax1'], ['alpha']),                # [N, 1]
        helper.make_node('Unsqueeze', ['sigma2_n', 'ax1'], ['sigma2']),
    ]
    gmm_nodes(spec, nodes, inits)
    convert(nodes, inits, 'epsilon', 'epsilon')
    finish(nodes, inits,
           [helper.make_tensor_value_info('x', f32, ['batch', D]), helper.make_tensor_value_info('step', TensorProto.INT64, ['batch'])],
           [helper.make_tensor_value_info('epsilon', f32, ['batch', D])],
           {'condiff.parameterization': 'epsilon', 'condiff.time': 'step', 'condiff.schedule': 'ddpm-linear', 'condiff.K': str(K),
            'condiff.step_offset': '1', 'condiff.input': 'x', 'condiff.time_input': 'step', 'condiff.output': 'epsilon'},
           'gmm-eps-step', doc)

    # 2. x0, float32 sigma [batch, 1], VP: alpha = sqrt(1 - sigma^2).
    nodes, inits = [], []
    inits += [const('one', 1.0)]
    nodes += [
        helper.make_node('Identity', ['x'], ['z']),
        helper.make_node('Mul', ['noise_level', 'noise_level'], ['sigma2']),
        helper.make_node('Sub', ['one', 'sigma2'], ['a2']),
        helper.make_node('Sqrt', ['a2'], ['alpha']),
    ]
    gmm_nodes(spec, nodes, inits)
    convert(nodes, inits, 'x0', 'x0_hat')
    finish(nodes, inits,
           [helper.make_tensor_value_info('x', f32, ['batch', D]), helper.make_tensor_value_info('noise_level', f32, ['batch', 1])],
           [helper.make_tensor_value_info('x0_hat', f32, ['batch', D])],
           {'condiff.parameterization': 'x0', 'condiff.time': 'sigma'},
           'gmm-x0-sigma', doc)

    # 3. v, float32 scalar t, OU: alpha = e^-t, sigma^2 = 1 - e^-2t.
    nodes, inits = [], []
    inits += [const('one', 1.0), const('m1', -1.0), const('m2', -2.0), const('shape11', [1, 1], np.int64)]
    nodes += [
        helper.make_node('Identity', ['x'], ['z']),
        helper.make_node('Reshape', ['t', 'shape11'], ['t11']),
        helper.make_node('Mul', ['t11', 'm1'], ['mt']),
        helper.make_node('Exp', ['mt'], ['alpha']),
        helper.make_node('Mul', ['t11', 'm2'], ['m2t']),
        helper.make_node('Exp', ['m2t'], ['e2t']),
        helper.make_node('Sub', ['one', 'e2t'], ['sigma2']),
    ]
    gmm_nodes(spec, nodes, inits)
    convert(nodes, inits, 'v', 'v')
    finish(nodes, inits,
           [helper.make_tensor_value_info('x', f32, ['batch', D]), helper.make_tensor_value_info('t', f32, [])],
           [helper.make_tensor_value_info('v', f32, ['batch', D])],
           {'condiff.parameterization': 'v', 'condiff.time': 't'},
           'gmm-v-t', doc)

    # 4. score, float32 t [16], OU, fixed batch 16.
    nodes, inits = [], []
    inits += [const('one', 1.0), const('m1', -1.0), const('m2', -2.0), const('ax1', [1], np.int64)]
    nodes += [
        helper.make_node('Identity', ['x'], ['z']),
        helper.make_node('Unsqueeze', ['t', 'ax1'], ['t1']),
        helper.make_node('Mul', ['t1', 'm1'], ['mt']),
        helper.make_node('Exp', ['mt'], ['alpha']),
        helper.make_node('Mul', ['t1', 'm2'], ['m2t']),
        helper.make_node('Exp', ['m2t'], ['e2t']),
        helper.make_node('Sub', ['one', 'e2t'], ['sigma2']),
    ]
    gmm_nodes(spec, nodes, inits)
    convert(nodes, inits, 'score', 'grad_log_p')
    finish(nodes, inits,
           [helper.make_tensor_value_info('x', f32, [16, D]), helper.make_tensor_value_info('t', f32, [16])],
           [helper.make_tensor_value_info('grad_log_p', f32, [16, D])],
           {'condiff.parameterization': 'score', 'condiff.time': 't'},
           'gmm-score-t16', doc)

    # 5. class-conditional score, float32 t [batch], OU, int64 label [batch] (null class 2).
    guided = {
        'weights': [0.3, 0.2, 0.3, 0.2],
        'means': [[-1.5, 0], [0, 1.5], [1.5, 0], [0, -1.5]],
        'variances': [[1, 0.5], [0.5, 1], [1, 0.5], [0.5, 1]],
        'classes': [0, 0, 1, 1],
    }
    nodes, inits = [], []
    inits += [const('one', 1.0), const('m1', -1.0), const('m2', -2.0), const('ax1', [1], np.int64)]
    nodes += [
        helper.make_node('Identity', ['x'], ['z']),
        helper.make_node('Unsqueeze', ['t', 'ax1'], ['t1']),
        helper.make_node('Mul', ['t1', 'm1'], ['mt']),
        helper.make_node('Exp', ['mt'], ['alpha']),
        helper.make_node('Mul', ['t1', 'm2'], ['m2t']),
        helper.make_node('Exp', ['m2t'], ['e2t']),
        helper.make_node('Sub', ['one', 'e2t'], ['sigma2']),
        helper.make_node('Unsqueeze', ['label', 'ax1'], ['label1']),           # [N, 1]
    ]
    terms = []
    for c in range(3):
        js = [j for j, k in enumerate(guided['classes']) if c == 2 or k == c]
        sub = {key: [guided[key][j] for j in js] for key in ('weights', 'means', 'variances')}
        gmm_nodes_prefixed(sub, nodes, inits, f'c{c}_', out=f'score{c}')
        inits.append(const(f'cls{c}', [c], np.int64))
        nodes += [
            helper.make_node('Equal', ['label1', f'cls{c}'], [f'is{c}']),
            helper.make_node('Cast', [f'is{c}'], [f'w{c}'], to=TensorProto.FLOAT),
            helper.make_node('Mul', [f'w{c}', f'score{c}'], [f'term{c}']),
        ]
        terms.append(f'term{c}')
    nodes += [helper.make_node('Add', terms[:2], ['sum01']), helper.make_node('Add', ['sum01', terms[2]], ['score'])]
    finish(nodes, inits,
           [helper.make_tensor_value_info('x', f32, ['batch', 2]), helper.make_tensor_value_info('t', f32, ['batch']),
            helper.make_tensor_value_info('label', TensorProto.INT64, ['batch'])],
           [helper.make_tensor_value_info('score', f32, ['batch', 2])],
           {'condiff.parameterization': 'score', 'condiff.time': 't', 'condiff.input': 'x', 'condiff.time_input': 't',
            'condiff.class_input': 'label', 'condiff.null_class': '2'},
           'gmm-cond-score', 'Exact class-conditional score of a 4-component mixture (docs/MATH.md §12); null class 2; condiff test fixture.')

    # 2. Validation graphs: y = x * t (no metadata).
    def tiny(name, x_type=f32, x_shape=('batch', 4), t=('t', f32, ['batch']), outputs=(('y', f32, ('batch', 4)),), extra=()):
        nodes, inits = [], []
        ins = [helper.make_tensor_value_info('x', x_type, list(x_shape))]
        names = ['x']
        if t is not None:
            ins.append(helper.make_tensor_value_info(t[0], t[1], t[2]))
            names.append(t[0])
        for e in extra:
            ins.append(helper.make_tensor_value_info(e[0], e[1], e[2]))
        outs = []
        for i, (oname, otype, oshape) in enumerate(outputs):
            outs.append(helper.make_tensor_value_info(oname, otype, list(oshape)))
            nodes.append(helper.make_node('Identity', ['x'], [oname]))
        finish(nodes, inits, ins, outs, {}, name, 'condiff validation fixture: outputs are copies of x')

    tiny('tiny-two-outputs', outputs=(('y', f32, ('batch', 4)), ('aux', f32, ('batch', 4))))
    tiny('tiny-int-x', x_type=TensorProto.INT32, outputs=(('y', TensorProto.INT32, ('batch', 4)),))
    tiny('tiny-three-inputs', extra=(('label', TensorProto.INT64, ['batch']),))
    tiny('tiny-image', x_shape=('batch', 1, 2, 2), outputs=(('y', f32, ('batch', 1, 2, 2)),))
    tiny('tiny-no-time', t=None)
    tiny('tiny-string-time', t=('t', TensorProto.STRING, ['batch']))


if __name__ == '__main__':
    main()
