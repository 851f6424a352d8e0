bits 16
org 0x1000
%include "body.inc"
