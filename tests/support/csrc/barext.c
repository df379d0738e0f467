/* barext._speedup: a CPython extension module, installed from a binary wheel by pip. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *greeting(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyUnicode_FromString("barext ok");
}

static PyMethodDef methods[] = {
    {"greeting", greeting, METH_NOARGS, "The line bin/barext prints."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedup", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedup(void) { return PyModule_Create(&module); }
